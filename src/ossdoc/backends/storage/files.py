"""Blob files of LocalStorage: writing a body to a durable file, reading ranges back."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import os
import queue
import threading
from collections.abc import AsyncIterable, Callable
from pathlib import Path

from ossdoc import crc64, errors
from ossdoc.backends.storage.base import StagedBlob

FLUSH_BYTES = 1024 * 1024
READ_CHUNK = 1024 * 1024
# Below this a read or a whole small write is done on the event loop thread: a thread hop costs
# more than the system call on data that is in the page cache.
INLINE_BYTES = 64 * 1024
_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start writeback of the range's dirty pages, do not wait
_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 16


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's sync_file_range(2), which Python's os module lacks; None elsewhere."""
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    start: Callable[[int, int, int, int], int] = function
    return start


_start_writeback = _sync_file_range()


class BlobWriter:
    """Writes one blob to a temporary file; ``finish`` fsyncs it and renames it into place.

    ``write`` (file + CRC) and ``hash`` (MD5) touch disjoint state, so they may run in two threads
    at once on the same chunks.

    When the blob will be fsynced, each write also starts the disk writeback of what it wrote, as
    PostgreSQL and RocksDB do: the disk then works while the rest of the body arrives and is hashed,
    and the final fsync waits for the last buffer only, not for the whole body (256 MiB: 0.12 s)."""

    def __init__(self, tmp_path: Path, fsync: bool = True) -> None:
        self.tmp_path = tmp_path
        self.fsync = fsync
        self.fd = -1
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.crc = 0
        self.size = 0

    def write(self, chunks: list[bytes]) -> None:
        """Append ``chunks`` (as received: joining them would copy every byte once more)."""
        if self.fd < 0:
            self.fd = os.open(self.tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        size = sum(map(len, chunks))
        views = [memoryview(chunk) for chunk in chunks if chunk]
        while views:
            written = os.writev(self.fd, views[:_IOV_MAX])
            while views and written >= len(views[0]):
                written -= len(views.pop(0))
            if written:
                views[0] = views[0][written:]
        if self.fsync and _start_writeback is not None and size:
            _start_writeback(self.fd, self.size, size, _SYNC_FILE_RANGE_WRITE)  # advice: errors ignored
        for chunk in chunks:
            self.crc = crc64.crc64(chunk, self.crc)
        self.size += size

    def hash(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.md5.update(chunk)

    def finish(self, chunks: list[bytes], final_path: Path) -> None:
        self.write(chunks)
        if self.fsync:
            os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1
        try:
            os.rename(self.tmp_path, final_path)
        except FileNotFoundError:
            final_path.parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.tmp_path, final_path)

    def abort(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.tmp_path.unlink(missing_ok=True)


async def write_blob(
    body: AsyncIterable[bytes],
    tmp_path: Path,
    final_path: Path,
    blob_id: str,
    limit: int | None,
    fsync: bool = True,
) -> StagedBlob:
    """Stream ``body`` into a durable file, keeping at most two flush buffers in memory.

    While one buffer is written and hashed in worker threads the loop fills the next; MD5 (~700 MB/s)
    is the slowest step, so it runs beside the write and CRC rather than after them."""
    writer = BlobWriter(tmp_path, fsync)
    loop = asyncio.get_running_loop()
    pending: list[asyncio.Future[None]] = []
    chunks: list[bytes] = []
    buffered = received = 0
    try:
        async for chunk in body:
            received += len(chunk)
            if limit is not None and received > limit:
                raise errors.EntityTooLarge(f"The body exceeds the maximum allowed size of {limit} bytes.")
            chunks.append(chunk)
            buffered += len(chunk)
            if buffered >= FLUSH_BYTES:
                await _all(pending)
                pending = [
                    loop.run_in_executor(None, writer.write, chunks),
                    loop.run_in_executor(None, writer.hash, chunks),
                ]
                chunks, buffered = [], 0
        await _all(pending)
        pending = []
        if not fsync and received <= INLINE_BYTES:
            writer.hash(chunks)
            writer.finish(chunks, final_path)  # a few page-cache writes: cheaper than a thread hop
        else:
            # Off the loop: fsync takes about a millisecond even for a few bytes.
            pending = [loop.run_in_executor(None, writer.finish, chunks, final_path)]
            if buffered <= INLINE_BYTES:
                writer.hash(chunks)  # microseconds: cheaper than a second thread hop
            else:
                pending.append(loop.run_in_executor(None, writer.hash, chunks))
            await _all(pending)
    except BaseException:
        _abort_when_done(writer, pending, final_path)
        raise
    return StagedBlob(blob_id, writer.size, writer.md5.digest(), writer.crc)


async def _all(futures: list[asyncio.Future[None]]) -> None:
    # Shielded: cancelling the task must not mark a future done while its thread still runs.
    for future in futures:
        await asyncio.shield(future)


def _abort_when_done(writer: BlobWriter, futures: list[asyncio.Future[None]], final_path: Path) -> None:
    """Delete the file (renamed or not) once no thread uses its descriptor any more: a closed
    descriptor's number may be reused by another file at once. Not awaited, so a second cancellation
    cannot skip it."""

    def done(_: object = None) -> None:
        if all(f.done() for f in futures):
            for future in futures:
                if not future.cancelled():
                    future.exception()  # retrieved: the first error is the one raised
            writer.abort()
            final_path.unlink(missing_ok=True)

    for future in futures:
        future.add_done_callback(done)
    done()


class BlobReader:
    """Streams byte ranges of blob files, and bodies already in memory, as an async iterator of chunks.

    Every file is opened at construction, so an unlink by a concurrent overwrite or delete cannot
    cut the stream short; the descriptors are closed at the end, on ``aclose`` or when dropped."""

    def __init__(self, pieces: list[tuple[Path, int, int] | bytes]) -> None:
        self._open: list[tuple[int, int, int] | bytes] = []
        try:
            for piece in pieces:
                if isinstance(piece, bytes):
                    self._open.append(piece)
                else:
                    path, offset, length = piece
                    self._open.append((os.open(path, os.O_RDONLY), offset, length))
        except BaseException:
            self.close()
            raise
        self._open.reverse()  # popped from the end

    def __aiter__(self) -> BlobReader:
        return self

    def files(self) -> list[tuple[int, int, int]] | None:
        """What is left to read, as (descriptor, offset, length), when it is all in files (see
        ``FileBacked``)."""
        if any(isinstance(piece, bytes) for piece in self._open):
            return None
        return [piece for piece in reversed(self._open) if not isinstance(piece, bytes) and piece[2]]

    async def __anext__(self) -> bytes:
        while self._open:
            piece = self._open[-1]
            if isinstance(piece, bytes):
                self._open.pop()
                if piece:
                    return piece
                continue
            fd, offset, length = piece
            if length == 0:
                os.close(fd)
                self._open.pop()
                continue
            size = min(READ_CHUNK, length)
            if size <= INLINE_BYTES:
                data = os.pread(fd, size, offset)
            else:
                data = await asyncio.to_thread(os.pread, fd, size, offset)
            if not data:
                self.close()
                raise OSError(f"blob shorter than its record at offset {offset}")
            self._open[-1] = (fd, offset + len(data), length - len(data))
            return data
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        while self._open:
            piece = self._open.pop()
            if not isinstance(piece, bytes):
                os.close(piece[0])

    def __del__(self) -> None:
        self.close()


class Reaper:
    """Deletes files in a thread of its own: freeing a large file takes tens of milliseconds, and
    handing paths to one long-lived thread costs the event loop a queue put, not a wake-up per batch."""

    def __init__(self) -> None:
        self._queue: queue.Queue[list[Path] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="ossdoc-reaper", daemon=True)
        self._thread.start()

    def unlink(self, paths: list[Path]) -> None:
        if paths:
            self._queue.put(paths)

    def _run(self) -> None:
        while (paths := self._queue.get()) is not None:
            for path in paths:
                # A file that cannot go now is swept at the next open; the thread must live on.
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
            self._queue.task_done()
        self._queue.task_done()

    async def settle(self) -> None:
        """Wait until every file handed over so far is gone."""
        await asyncio.to_thread(self._queue.join)

    async def stop(self) -> None:
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)
