"""Blob files of LocalStorage: writing a body to a durable file, reading ranges back."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterable
from pathlib import Path

from ossdoc import crc64, errors
from ossdoc.backends.storage.base import StagedBlob

FLUSH_BYTES = 1024 * 1024
READ_CHUNK = 1024 * 1024
# Below this a read or a whole small write is done on the event loop thread: a thread hop costs
# more than the system call on data that is in the page cache.
INLINE_BYTES = 64 * 1024


class BlobWriter:
    """Writes one blob to a temporary file; ``finish`` fsyncs it and renames it into place."""

    def __init__(self, tmp_path: Path, fsync: bool = True) -> None:
        self.tmp_path = tmp_path
        self.fsync = fsync
        self.fd: int | None = None
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.crc = 0
        self.size = 0

    def write(self, data: bytes | bytearray) -> None:
        if self.fd is None:
            self.fd = os.open(self.tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        # hashlib and fastcrc release the GIL on large buffers, so hashing overlaps the network.
        self.md5.update(data)
        self.crc = crc64.crc64(data, self.crc)
        self.size += len(data)

    def finish(self, data: bytes | bytearray, final_path: Path) -> None:
        self.write(data)
        assert self.fd is not None
        if self.fsync:
            os.fsync(self.fd)
        os.close(self.fd)
        self.fd = None
        try:
            os.rename(self.tmp_path, final_path)
        except FileNotFoundError:
            final_path.parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.tmp_path, final_path)

    def abort(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.tmp_path.unlink(missing_ok=True)


async def write_blob(
    body: AsyncIterable[bytes],
    tmp_path: Path,
    final_path: Path,
    blob_id: str,
    limit: int | None,
    fsync: bool = True,
) -> StagedBlob:
    """Stream ``body`` into a durable file, keeping at most two flush buffers in memory."""
    writer = BlobWriter(tmp_path, fsync)
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] | None = None
    buffer = bytearray()
    received = 0
    try:
        async for chunk in body:
            received += len(chunk)
            if limit is not None and received > limit:
                raise errors.EntityTooLarge(f"The body exceeds the maximum allowed size of {limit} bytes.")
            buffer += chunk
            if len(buffer) >= FLUSH_BYTES:
                if pending is not None:
                    await pending
                pending = loop.run_in_executor(None, writer.write, buffer)
                buffer = bytearray()
        if pending is not None:
            await pending
            pending = None
        if not writer.fsync and writer.fd is None and len(buffer) <= INLINE_BYTES:
            writer.finish(buffer, final_path)  # a few page-cache writes: cheaper than a thread hop
        else:
            # Off the loop: fsync takes about a millisecond even for a few bytes.
            await loop.run_in_executor(None, writer.finish, buffer, final_path)
    except BaseException:
        if pending is not None:
            await asyncio.wait([pending])
        writer.abort()
        raise
    return StagedBlob(blob_id, writer.size, writer.md5.digest(), writer.crc)


class BlobReader:
    """Streams byte ranges of blob files as an async iterator of chunks.

    Every file is opened at construction, so an unlink by a concurrent overwrite or delete cannot
    cut the stream short; the descriptors are closed at the end, on ``aclose`` or when dropped."""

    def __init__(self, pieces: list[tuple[Path, int, int]]) -> None:
        self._open: list[tuple[int, int, int]] = []
        try:
            for path, offset, length in pieces:
                self._open.append((os.open(path, os.O_RDONLY), offset, length))
        except BaseException:
            self.close()
            raise

    def __aiter__(self) -> BlobReader:
        return self

    async def __anext__(self) -> bytes:
        while self._open:
            fd, offset, length = self._open[0]
            if length == 0:
                os.close(fd)
                self._open.pop(0)
                continue
            size = min(READ_CHUNK, length)
            if size <= INLINE_BYTES:
                data = os.pread(fd, size, offset)
            else:
                data = await asyncio.to_thread(os.pread, fd, size, offset)
            if not data:
                self.close()
                raise OSError(f"blob shorter than its record at offset {offset}")
            self._open[0] = (fd, offset + len(data), length - len(data))
            return data
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        while self._open:
            os.close(self._open.pop()[0])

    def __del__(self) -> None:
        self.close()
