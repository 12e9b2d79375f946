"""A StorageBackend on any S3-compatible store (SeaweedFS, MinIO, Ceph RGW, AWS S3).

Bytes live in immutable blob objects (``.ossdoc/blobs/``), written by ``stage`` as the body arrives.
An OSS object is the S3 object at its encoded key (see s3_keys): its body is the record (size,
ETag, CRC-64, type, metadata, blob list), its S3 metadata mirrors OSS's. A commit is a conditional
PutObject of the record (If-Match the record it read, or If-None-Match: * for a new key), retried
from a fresh read when another writer won, so checks (If-Match, append position, forbid-overwrite)
hold across processes and replicas. A read streams the blobs of the record it was given, so an
overwrite or delete does not cut it short: blobs a commit orphans are deleted READ_GRACE later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import replace

from botocore.exceptions import ClientError

from ossdoc import errors
from ossdoc.backends.storage import s3_records as rec
from ossdoc.backends.storage.base import (
    Bucket,
    Check,
    ObjectMeta,
    ObjectRecord,
    Part,
    Segment,
    StagedBlob,
    Upload,
)
from ossdoc.backends.storage.blobs import appended, check_parts, check_position, clip, new_id, segments_of
from ossdoc.backends.storage.s3_blobs import stage_blob
from ossdoc.backends.storage.s3_client import S3, Conflict, Endpoint, code_of, gather_bounded, status_of
from ossdoc.backends.storage.s3_keys import Layout, decode, encode, encode_checked, parse_url, start_after
from ossdoc.backends.storage.s3_uploads import Uploads
from ossdoc.config import Settings

# How long the blobs of an overwritten or deleted object outlive it, for reads that began before.
READ_GRACE = 300.0
# How long a bucket seen to exist is taken to exist without asking the store again: every object
# request checks its bucket. A bucket deleted by another replica may take a write this long after.
BUCKET_TTL = 1.0
# Conditional writes retried when other writers keep winning, before giving up with SlowDown.
ATTEMPTS = 50

Make = Callable[[ObjectRecord | None], ObjectRecord]


class S3Storage:
    def __init__(self, s3: S3, layout: Layout) -> None:
        self.s3 = s3
        self.layout = layout
        self.home = layout.home
        self._doomed: dict[asyncio.TimerHandle, list[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._seen: dict[str, tuple[float, Bucket]] = {}
        self.uploads = Uploads(self)

    @classmethod
    async def open(cls, s3: S3, layout: Layout) -> S3Storage:
        try:
            await s3.client.head_bucket(Bucket=layout.home)
        except ClientError as exc:
            if status_of(exc) != 404:
                raise
            await s3.client.create_bucket(Bucket=layout.home)
        return cls(s3, layout)

    # Blob lifetime
    def release(self, dead: Iterable[Segment], keep: Iterable[Segment] = (), *, now: bool = False) -> None:
        kept = {s.blob_id for s in keep}
        keys = [self.layout.blob(s.blob_id) for s in dead if s.blob_id not in kept]
        if not keys:
            return
        if now:
            self._spawn(keys)
            return
        handle = asyncio.get_running_loop().call_later(READ_GRACE, self._reap, keys)
        self._doomed[handle] = keys

    def _reap(self, keys: list[str]) -> None:
        for handle, doomed in list(self._doomed.items()):
            if doomed is keys:
                del self._doomed[handle]
        self._spawn(keys)

    def _spawn(self, keys: list[str]) -> None:
        task = asyncio.get_running_loop().create_task(self.s3.delete_many(self.home, keys))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Delete now what waits for READ_GRACE, and wait for deletions in flight."""
        for handle in list(self._doomed):
            handle.cancel()
            self._spawn(self._doomed.pop(handle))
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # Buckets
    async def create_bucket(self, bucket: Bucket) -> None:
        if self.layout.buckets_are_s3_buckets:
            try:
                await self.s3.client.create_bucket(Bucket=bucket.name)
            except ClientError as exc:
                if code_of(exc) != "BucketAlreadyOwnedByYou":
                    raise
        try:
            await self.s3.put_json(
                self.home, self.layout.bucket_record(bucket.name), rec.dump_bucket(bucket), if_absent=True
            )
        except Conflict as exc:
            raise errors.BucketAlreadyExists(BucketName=bucket.name) from exc

    async def _bucket(self, name: str) -> tuple[Bucket, str] | None:
        found = await self.s3.get_json(self.home, self.layout.bucket_record(name))
        return (rec.load_bucket(name, found[0]), found[1]) if found else None

    async def require_bucket(self, name: str) -> Bucket:
        found = await self.get_bucket(name)
        if found is None:
            raise errors.NoSuchBucket(BucketName=name)
        return found

    async def get_bucket(self, name: str) -> Bucket | None:
        seen = self._seen.get(name)
        if seen is not None and time.monotonic() - seen[0] < BUCKET_TTL:
            return seen[1]
        found = await self._bucket(name)
        if found is None:
            self._seen.pop(name, None)
            return None
        self._seen[name] = (time.monotonic(), found[0])
        return found[0]

    async def list_buckets(self) -> list[Bucket]:
        prefix = self.layout.buckets()
        names = [key[len(prefix) :] for key in await self.s3.list_keys(self.home, prefix, limit=100_000)]
        found = await gather_bounded(self.get_bucket(name) for name in names)
        return sorted((b for b in found if b is not None), key=lambda b: b.name)

    async def set_bucket_acl(self, name: str, acl: str) -> None:
        self._seen.pop(name, None)
        for _ in range(ATTEMPTS):
            found = await self._bucket(name)
            if found is None:
                raise errors.NoSuchBucket(BucketName=name)
            bucket, etag = found
            try:
                value = rec.dump_bucket(replace(bucket, acl=acl))
                await self.s3.put_json(self.home, self.layout.bucket_record(name), value, if_match=etag)
                return
            except Conflict:
                continue
        raise errors.SlowDown()

    async def delete_bucket(self, name: str) -> None:
        self._seen.pop(name, None)
        if await self._bucket(name) is None:
            raise errors.NoSuchBucket(BucketName=name)
        s3_bucket, base = self.layout.objects(name)
        busy = await self.s3.list_keys(s3_bucket, base, limit=1)
        if busy or await self.s3.list_keys(self.home, self.layout.uploads(name), limit=1):
            raise errors.BucketNotEmpty(BucketName=name)
        await self.s3.delete(self.home, self.layout.bucket_record(name))
        self._seen.pop(name, None)
        if self.layout.buckets_are_s3_buckets:
            try:
                await self.s3.client.delete_bucket(Bucket=name)
            except ClientError as exc:
                if status_of(exc) != 404:
                    raise

    # Blobs
    async def stage(self, body: AsyncIterable[bytes], *, limit: int | None = None) -> StagedBlob:
        blob_id = new_id()
        return await stage_blob(self.s3, self.home, self.layout.blob(blob_id), blob_id, body, limit)

    async def discard(self, blob: StagedBlob) -> None:
        self.release([Segment(blob.blob_id, blob.size)], now=True)

    def read(self, record: ObjectRecord, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        pieces = clip(record.segments, start, record.size if end is None else end)

        async def chunks() -> AsyncIterator[bytes]:
            for segment, offset, length in pieces:
                async for chunk in self.s3.read(self.home, self.layout.blob(segment.blob_id), offset, length):
                    yield chunk

        return chunks()

    # Objects
    def _where(self, bucket: str, key: str) -> tuple[str, str]:
        s3_bucket, base = self.layout.objects(bucket)
        return s3_bucket, base + encode_checked(key)

    async def _read_record(self, bucket: str, key: str) -> tuple[ObjectRecord, str] | None:
        found = await self.s3.get_json(*self._where(bucket, key))
        return (rec.load_object(bucket, key, found[0]), found[1]) if found else None

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        try:
            found = await self._read_record(bucket, key)
        except errors.InvalidObjectName:
            return None
        return found[0] if found else None

    async def swap(self, bucket: str, key: str, make: Make) -> tuple[ObjectRecord | None, ObjectRecord]:
        """Replace the record at ``bucket/key`` by ``make(current)``, atomically against other writers.

        ``make`` runs again on what is there now whenever another writer committed in between, so the
        preconditions it checks hold for the record it replaces. Return (replaced, new)."""
        s3_bucket, name = self._where(bucket, key)
        await self.require_bucket(bucket)
        guess = True  # first try the key as new, which saves a read when it is
        for _ in range(ATTEMPTS):
            current, etag = None, None
            if guess:
                guess = False
                try:
                    record = make(None)
                except Exception:
                    continue  # a check that fails on no object may pass on what is there: read it
            else:
                found = await self._read_record(bucket, key)
                current, etag = found if found else (None, None)
                record = make(current)
            try:
                await self.s3.put_json(
                    s3_bucket,
                    name,
                    rec.dump_object(record),
                    if_match=etag,
                    if_absent=etag is None,
                    **rec.s3_metadata(record),
                )
            except Conflict:
                continue
            if current is not None:
                self.release(current.segments, keep=record.segments)
            return current, record
        raise errors.SlowDown()

    async def commit_object(
        self,
        bucket: str,
        key: str,
        *,
        segments: list[StagedBlob],
        etag: str,
        crc64: int,
        object_type: str,
        meta: ObjectMeta,
        check: Check | None = None,
    ) -> ObjectRecord:
        size = sum(b.size for b in segments)
        record = ObjectRecord(
            bucket, key, size, etag, crc64, time.time(), object_type, meta, segments_of(segments)
        )
        return (await self.swap(bucket, key, checked(record, check)))[1]

    async def copy_object(
        self, source: ObjectRecord, bucket: str, key: str, *, meta: ObjectMeta, check: Check | None = None
    ) -> ObjectRecord:
        # Each copy owns its blobs (copied inside the store), so no reference counts across replicas.
        copies: list[Segment] = []
        try:
            for segment in source.segments:
                blob_id = new_id()
                try:
                    await self.s3.client.copy_object(
                        Bucket=self.home,
                        Key=self.layout.blob(blob_id),
                        CopySource={"Bucket": self.home, "Key": self.layout.blob(segment.blob_id)},
                    )
                except ClientError as exc:
                    if status_of(exc) == 404:
                        raise errors.NoSuchKey(Key=source.key) from exc
                    raise
                copies.append(Segment(blob_id, segment.size))
            record = replace(
                source, bucket=bucket, key=key, meta=meta, last_modified=time.time(), segments=tuple(copies)
            )
            return (await self.swap(bucket, key, checked(record, check)))[1]
        except BaseException:
            self.release(copies, now=True)
            raise

    async def append_object(
        self,
        bucket: str,
        key: str,
        *,
        blob: StagedBlob,
        position: int,
        meta: ObjectMeta,
        check: Check | None = None,
    ) -> ObjectRecord:
        def make(current: ObjectRecord | None) -> ObjectRecord:
            check_position(current, position)
            if check is not None:
                check(current)
            return appended(current, bucket, key, blob, meta)

        return (await self.swap(bucket, key, make))[1]

    async def update_meta(self, bucket: str, key: str, meta: ObjectMeta) -> ObjectRecord:
        def make(current: ObjectRecord | None) -> ObjectRecord:
            if current is None:
                raise errors.NoSuchKey(Key=key)
            return replace(current, meta=meta)

        return (await self.swap(bucket, key, make))[1]

    async def delete_object(self, bucket: str, key: str) -> bool:
        try:
            found = await self._read_record(bucket, key)
        except errors.InvalidObjectName:
            return False
        if found is None:
            return False
        await self.s3.delete(*self._where(bucket, key))
        self.release(found[0].segments)
        return True

    async def list_objects(self, bucket: str, prefix: str, after: bytes, limit: int) -> list[ObjectRecord]:
        s3_bucket, base = self.layout.objects(bucket)
        keys: list[str] = []
        cursor = base + start_after(after)
        while len(keys) < limit:
            wanted = limit - len(keys)
            names = await self.s3.list_keys(s3_bucket, base + encode(prefix), cursor, wanted)
            # A StartAfter made from bytes no key has lets a few keys through that sort before them.
            keys += [k for k in (decode(n[len(base) :]) for n in names) if k.encode() > after]
            if len(names) < wanted:
                break
            cursor = names[-1]
        found = await gather_bounded(self.get_object(bucket, key) for key in keys)
        return [record for record in found if record is not None]

    # Multipart uploads: s3_uploads.Uploads
    async def create_upload(self, bucket: str, key: str, meta: ObjectMeta) -> Upload:
        return await self.uploads.create(bucket, key, meta)

    async def get_upload(self, bucket: str, key: str, upload_id: str) -> Upload | None:
        return await self.uploads.get(bucket, key, upload_id)

    async def put_part(self, upload: Upload, number: int, blob: StagedBlob) -> Part:
        return await self.uploads.put_part(upload, number, blob)

    async def list_parts(self, upload: Upload) -> list[Part]:
        return await self.uploads.parts(upload)

    async def list_uploads(
        self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str, limit: int
    ) -> list[Upload]:
        return await self.uploads.listing(bucket, prefix, key_marker, upload_id_marker, limit)

    async def complete_upload(
        self, upload: Upload, parts: list[Part], *, etag: str, crc64: int, check: Check | None = None
    ) -> ObjectRecord:
        stored = await self.uploads.parts(upload)
        check_parts(upload, parts, {p.number: p.blob_id for p in stored})
        record = ObjectRecord(
            upload.bucket,
            upload.key,
            sum(p.size for p in parts),
            etag,
            crc64,
            time.time(),
            "Multipart",
            upload.meta,
            tuple(Segment(p.blob_id, p.size) for p in parts),
        )
        await self.swap(upload.bucket, upload.key, checked(record, check))
        used = {p.blob_id for p in parts}
        await self.uploads.remove(upload, [p for p in stored if p.blob_id not in used])
        return record

    async def abort_upload(self, upload: Upload) -> None:
        await self.uploads.remove(upload, await self.uploads.parts(upload))

    async def close(self) -> None:
        await self.settle()
        await self.s3.close()


def checked(record: ObjectRecord, check: Check | None) -> Make:
    def make(current: ObjectRecord | None) -> ObjectRecord:
        if check is not None:
            check(current)
        return record

    return make


async def open_s3(settings: Settings) -> S3Storage:
    if settings.s3_bucket_mode not in ("prefix", "bucket"):
        raise ValueError(f"s3_bucket_mode must be 'prefix' or 'bucket', not {settings.s3_bucket_mode!r}")
    home, root = parse_url(settings.storage)
    layout = Layout(home, root, buckets_are_s3_buckets=settings.s3_bucket_mode == "bucket")
    endpoint = Endpoint(
        settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key, settings.s3_region
    )
    s3 = await S3.connect(endpoint)
    try:
        return await S3Storage.open(s3, layout)
    except BaseException:
        await s3.close()
        raise
