"""An in-memory StorageBackend for fast tests."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import replace

from ossdoc import crc64, errors
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
from ossdoc.backends.storage.blobs import (
    appended,
    check_parts,
    check_position,
    clip,
    new_id,
    new_upload_id,
    segments_of,
)
from ossdoc.backends.storage.files import READ_CHUNK


class MemoryStorage:
    def __init__(self) -> None:
        self.buckets: dict[str, Bucket] = {}
        self.objects: dict[tuple[str, str], ObjectRecord] = {}
        self.blobs: dict[str, bytes] = {}
        self.uploads: dict[str, Upload] = {}
        self.parts: dict[str, dict[int, Part]] = {}

    async def create_bucket(self, bucket: Bucket) -> None:
        if bucket.name in self.buckets:
            raise errors.BucketAlreadyExists(BucketName=bucket.name)
        self.buckets[bucket.name] = bucket

    async def get_bucket(self, name: str) -> Bucket | None:
        return self.buckets.get(name)

    async def list_buckets(self) -> list[Bucket]:
        return [self.buckets[name] for name in sorted(self.buckets)]

    async def set_bucket_acl(self, name: str, acl: str) -> None:
        self.buckets[name] = replace(self._bucket(name), acl=acl)

    async def delete_bucket(self, name: str) -> None:
        self._bucket(name)
        if any(b == name for b, _ in self.objects) or any(u.bucket == name for u in self.uploads.values()):
            raise errors.BucketNotEmpty(BucketName=name)
        del self.buckets[name]

    def _bucket(self, name: str) -> Bucket:
        if name not in self.buckets:
            raise errors.NoSuchBucket(BucketName=name)
        return self.buckets[name]

    async def stage(self, body: AsyncIterable[bytes], *, limit: int | None = None) -> StagedBlob:
        data = bytearray()
        async for chunk in body:
            data += chunk
            if limit is not None and len(data) > limit:
                raise errors.EntityTooLarge()
        blob_id = new_id()
        self.blobs[blob_id] = bytes(data)
        md5 = hashlib.md5(data, usedforsecurity=False).digest()
        return StagedBlob(blob_id, len(data), md5, crc64.crc64(data))

    async def discard(self, blob: StagedBlob) -> None:
        self.blobs.pop(blob.blob_id, None)

    def read(self, record: ObjectRecord, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        # Looked up now: an overwrite or delete after this call must not change what is streamed.
        pieces = [
            (self.blobs[s.blob_id], offset, length)
            for s, offset, length in clip(record.segments, start, record.size if end is None else end)
        ]

        async def chunks() -> AsyncIterator[bytes]:
            for data, offset, length in pieces:
                for at in range(offset, offset + length, READ_CHUNK):
                    yield data[at : min(at + READ_CHUNK, offset + length)]

        return chunks()

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        return self.objects.get((bucket, key))

    def _commit(self, record: ObjectRecord, check: Check | None) -> ObjectRecord:
        self._bucket(record.bucket)
        old = self.objects.get((record.bucket, record.key))
        if check is not None:
            check(old)
        self.objects[(record.bucket, record.key)] = record
        if old is not None:
            self._drop(old.segments, keep=record.segments)
        return record

    def _drop(self, segments: tuple[Segment, ...], keep: tuple[Segment, ...] = ()) -> None:
        kept = {s.blob_id for s in keep}
        for segment in segments:
            if segment.blob_id not in kept:
                self.blobs.pop(segment.blob_id, None)

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
        record = ObjectRecord(
            bucket,
            key,
            sum(b.size for b in segments),
            etag,
            crc64,
            time.time(),
            object_type,
            meta,
            segments_of(segments),
        )
        return self._commit(record, check)

    async def copy_object(
        self, source: ObjectRecord, bucket: str, key: str, *, meta: ObjectMeta, check: Check | None = None
    ) -> ObjectRecord:
        segments = []
        for segment in source.segments:
            blob_id = new_id()
            self.blobs[blob_id] = self.blobs[segment.blob_id]
            segments.append(Segment(blob_id, segment.size))
        record = replace(
            source, bucket=bucket, key=key, meta=meta, last_modified=time.time(), segments=tuple(segments)
        )
        try:
            return self._commit(record, check)
        except BaseException:
            self._drop(record.segments)
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
        current = self.objects.get((bucket, key))
        check_position(current, position)
        return self._commit(appended(current, bucket, key, blob, meta), check)

    async def update_meta(self, bucket: str, key: str, meta: ObjectMeta) -> ObjectRecord:
        current = self.objects.get((bucket, key))
        if current is None:
            raise errors.NoSuchKey(Key=key)
        self.objects[(bucket, key)] = record = replace(current, meta=meta)
        return record

    async def delete_object(self, bucket: str, key: str) -> bool:
        old = self.objects.pop((bucket, key), None)
        if old is not None:
            self._drop(old.segments)
        return old is not None

    async def list_objects(self, bucket: str, prefix: str, after: bytes, limit: int) -> list[ObjectRecord]:
        keys = sorted(
            (k.encode(), k)
            for b, k in self.objects
            if b == bucket and k.startswith(prefix) and k.encode() > after
        )
        return [self.objects[(bucket, k)] for _, k in keys[:limit]]

    async def create_upload(self, bucket: str, key: str, meta: ObjectMeta) -> Upload:
        self._bucket(bucket)
        upload = Upload(bucket, key, new_upload_id(), time.time(), meta)
        self.uploads[upload.upload_id] = upload
        self.parts[upload.upload_id] = {}
        return upload

    async def get_upload(self, bucket: str, key: str, upload_id: str) -> Upload | None:
        upload = self.uploads.get(upload_id)
        return upload if upload is not None and (upload.bucket, upload.key) == (bucket, key) else None

    def _parts(self, upload: Upload) -> dict[int, Part]:
        if upload.upload_id not in self.uploads:
            raise errors.NoSuchUpload(UploadId=upload.upload_id)
        return self.parts[upload.upload_id]

    async def put_part(self, upload: Upload, number: int, blob: StagedBlob) -> Part:
        parts = self._parts(upload)
        part = Part(number, blob.md5.hex().upper(), blob.size, blob.crc64, time.time(), blob.blob_id)
        old = parts.get(number)
        parts[number] = part
        if old is not None:
            self.blobs.pop(old.blob_id, None)
        return part

    async def list_parts(self, upload: Upload) -> list[Part]:
        parts = self._parts(upload)
        return [parts[n] for n in sorted(parts)]

    async def list_uploads(
        self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str, limit: int
    ) -> list[Upload]:
        found = sorted(
            (u for u in self.uploads.values() if u.bucket == bucket and u.key.startswith(prefix)),
            key=lambda u: (u.key.encode(), u.upload_id),
        )
        marker = key_marker.encode()
        return [
            u
            for u in found
            if u.key.encode() > marker
            or (u.key.encode() == marker and upload_id_marker and u.upload_id > upload_id_marker)
        ][:limit]

    async def complete_upload(
        self, upload: Upload, parts: list[Part], *, etag: str, crc64: int, check: Check | None = None
    ) -> ObjectRecord:
        stored = self._parts(upload)
        check_parts(upload, parts, {n: p.blob_id for n, p in stored.items()})
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
        self._commit(record, check)
        used = {p.blob_id for p in parts}
        for part in stored.values():
            if part.blob_id not in used:
                self.blobs.pop(part.blob_id, None)
        del self.uploads[upload.upload_id], self.parts[upload.upload_id]
        return record

    async def abort_upload(self, upload: Upload) -> None:
        for part in self._parts(upload).values():
            self.blobs.pop(part.blob_id, None)
        del self.uploads[upload.upload_id], self.parts[upload.upload_id]

    async def close(self) -> None:
        return None
