"""The object store service: OSS semantics for buckets and objects over a StorageBackend."""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import replace

from ossdoc import errors
from ossdoc.backends.storage.base import Bucket, Check, ObjectMeta, ObjectRecord, StagedBlob, StorageBackend
from ossdoc.backends.storage.blobs import check_position
from ossdoc.services import listing
from ossdoc.services.naming import check_bucket_name

MAX_PUT_SIZE = 5 * 1024**3
MAX_APPEND_SIZE = 5 * 1024**3


class ObjectStore:
    def __init__(self, backend: StorageBackend) -> None:
        self.backend = backend

    # Buckets
    async def create_bucket(self, name: str, acl: str, storage_class: str) -> Bucket:
        check_bucket_name(name)
        bucket = Bucket(name=name, created=time.time(), acl=acl, storage_class=storage_class)
        await self.backend.create_bucket(bucket)
        return bucket

    async def bucket(self, name: str) -> Bucket:
        found = await self.backend.get_bucket(name)
        if found is None:
            raise errors.NoSuchBucket(BucketName=name)
        return found

    async def list_buckets(self, prefix: str, marker: str, max_keys: int) -> tuple[list[Bucket], bool]:
        buckets = [
            b for b in await self.backend.list_buckets() if b.name.startswith(prefix) and b.name > marker
        ]
        return buckets[:max_keys], len(buckets) > max_keys

    async def delete_bucket(self, name: str) -> None:
        await self.bucket(name)
        await self.backend.delete_bucket(name)

    async def set_bucket_acl(self, name: str, acl: str) -> None:
        await self.bucket(name)
        await self.backend.set_bucket_acl(name, acl)

    async def authorize_anonymous(self, bucket: str | None, key: str | None, need: str | None) -> None:
        """Let an unsigned request through only where a public ACL allows it."""
        denied = errors.AccessDenied("You have no right to access this object because of bucket acl.")
        if need is None or bucket is None:
            raise errors.AccessDenied("Anonymous access is forbidden for this operation.")
        found = await self.backend.get_bucket(bucket)
        if found is None:
            raise errors.NoSuchBucket(BucketName=bucket)
        acl = found.acl
        if key is not None:
            record = await self.backend.get_object(bucket, key)
            if record is not None and record.meta.acl != "default":
                acl = record.meta.acl
        allowed = {"read": {"public-read", "public-read-write"}, "write": {"public-read-write"}}[need]
        if acl not in allowed:
            raise denied

    # Objects
    async def head(self, bucket: str, key: str) -> ObjectRecord:
        record = await self.backend.get_object(bucket, key)
        if record is None:
            await self.bucket(bucket)
            raise errors.NoSuchKey(Key=key)
        return record

    def read(self, record: ObjectRecord, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        return self.backend.read(record, start, end)

    async def stage(
        self, bucket: str, body: AsyncIterable[bytes], limit: int, md5: bytes | None
    ) -> StagedBlob:
        """Receive a body for ``bucket``; the bucket must exist before any byte is stored."""
        await self.bucket(bucket)
        blob = await self.backend.stage(body, limit=limit)
        if md5 is not None and md5 != blob.md5:
            await self.backend.discard(blob)
            raise errors.InvalidDigest("The Content-MD5 you specified did not match what we received.")
        return blob

    async def put(
        self,
        bucket: str,
        key: str,
        body: AsyncIterable[bytes],
        meta: ObjectMeta,
        *,
        md5: bytes | None = None,
        check: Check | None = None,
    ) -> ObjectRecord:
        blob = await self.stage(bucket, body, MAX_PUT_SIZE, md5)
        try:
            return await self.backend.commit_object(
                bucket,
                key,
                segments=[blob],
                etag=blob.md5.hex().upper(),
                crc64=blob.crc64,
                object_type="Normal",
                meta=meta,
                check=check,
            )
        except BaseException:
            await self.backend.discard(blob)
            raise

    async def append(
        self,
        bucket: str,
        key: str,
        position: int,
        body: AsyncIterable[bytes],
        meta: ObjectMeta,
        *,
        md5: bytes | None = None,
        check: Check | None = None,
    ) -> ObjectRecord:
        # Refuse a wrong position before receiving the body; the commit checks again atomically.
        check_position(await self.backend.get_object(bucket, key), position)
        blob = await self.stage(bucket, body, MAX_APPEND_SIZE, md5)
        try:
            return await self.backend.append_object(
                bucket, key, blob=blob, position=position, meta=meta, check=check
            )
        except BaseException:
            await self.backend.discard(blob)
            raise

    async def copy(
        self, source: ObjectRecord, bucket: str, key: str, meta: ObjectMeta | None, check: Check | None = None
    ) -> ObjectRecord:
        """CopyObject: ``meta`` None keeps the source's metadata (x-oss-metadata-directive: COPY)."""
        await self.bucket(bucket)
        if meta is None:
            meta = replace(source.meta, acl="default")
        return await self.backend.copy_object(source, bucket, key, meta=meta, check=check)

    async def update_meta(self, bucket: str, key: str, meta: ObjectMeta) -> ObjectRecord:
        await self.head(bucket, key)
        return await self.backend.update_meta(bucket, key, meta)

    async def delete(self, bucket: str, key: str) -> None:
        await self.bucket(bucket)
        await self.backend.delete_object(bucket, key)

    async def delete_many(self, bucket: str, keys: list[str]) -> list[str]:
        await self.bucket(bucket)
        for key in keys:
            await self.backend.delete_object(bucket, key)
        return keys

    async def list(
        self, bucket: str, prefix: str, delimiter: str, marker: str, max_keys: int
    ) -> listing.Listing:
        await self.bucket(bucket)
        return await listing.list_page(self.backend, bucket, prefix, delimiter, marker, max_keys)

    async def close(self) -> None:
        await self.backend.close()
