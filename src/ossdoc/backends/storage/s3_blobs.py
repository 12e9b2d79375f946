"""Staging a body as an immutable blob object in S3, hashing it (MD5, CRC-64) on the way.

A small body is one PutObject. A larger one becomes an S3 multipart upload of PART_SIZE parts, one
part in flight while the next is received, so memory stays at two parts whatever the size."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterable

from ossdoc import crc64, errors
from ossdoc.backends.storage.base import StagedBlob
from ossdoc.backends.storage.s3_client import S3

PART_SIZE = 8 * 1024 * 1024


class _Parts:
    """An S3 multipart upload of the blob, started when the body outgrows one part."""

    def __init__(self, s3: S3, bucket: str, key: str) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key
        self.upload_id = ""
        self.etags: list[str] = []
        self.pending: asyncio.Task[None] | None = None

    async def send(self, data: bytes) -> None:
        if not self.upload_id:
            reply = await self.s3.client.create_multipart_upload(Bucket=self.bucket, Key=self.key)
            self.upload_id = reply["UploadId"]
        await self.wait()
        self.etags.append("")
        self.pending = asyncio.create_task(self._upload(len(self.etags), data))

    async def _upload(self, number: int, data: bytes) -> None:
        reply = await self.s3.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
        )
        self.etags[number - 1] = reply["ETag"]

    async def wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            await pending

    async def finish(self) -> None:
        await self.wait()
        parts = [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(self.etags, 1)]
        await self.s3.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": parts}
        )

    async def abort(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
            with contextlib.suppress(BaseException):
                await self.pending
        if self.upload_id:
            with contextlib.suppress(Exception):
                await self.s3.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
                )


async def stage_blob(
    s3: S3, bucket: str, key: str, blob_id: str, body: AsyncIterable[bytes], limit: int | None
) -> StagedBlob:
    md5 = hashlib.md5(usedforsecurity=False)
    crc = size = 0
    buffer = bytearray()
    parts = _Parts(s3, bucket, key)
    try:
        async for chunk in body:
            size += len(chunk)
            if limit is not None and size > limit:
                raise errors.EntityTooLarge()
            md5.update(chunk)
            crc = crc64.crc64(chunk, crc)
            buffer += chunk
            if len(buffer) >= PART_SIZE:
                await parts.send(bytes(buffer))
                buffer.clear()
        if parts.upload_id:
            if buffer or not parts.etags:
                await parts.send(bytes(buffer))
            await parts.finish()
        else:
            await s3.client.put_object(Bucket=bucket, Key=key, Body=bytes(buffer))
    except BaseException:
        await parts.abort()
        raise
    return StagedBlob(blob_id, size, md5.digest(), crc)
