"""Multipart uploads of S3Storage: one record per upload and one per part, under ``.ossdoc/``.

An OSS part is a staged blob like any body (itself an S3 multipart upload when large); completing
an upload commits a record listing the chosen parts' blobs, so nothing is copied and the OSS ETag
and CRC-64 of the parts are kept. Listing uploads reads every record of the bucket: in-progress
uploads are few, and S3's own ListMultipartUploads knows neither OSS's ids nor their metadata."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from ossdoc import errors
from ossdoc.backends.storage import s3_records as rec
from ossdoc.backends.storage.base import ObjectMeta, Part, Segment, StagedBlob, Upload
from ossdoc.backends.storage.blobs import new_upload_id
from ossdoc.backends.storage.s3_client import gather_bounded

if TYPE_CHECKING:
    from ossdoc.backends.storage.s3 import S3Storage

UPLOAD_ID = re.compile(r"[0-9A-F]{32}")
MAX_UPLOADS_LISTED = 100_000


class Uploads:
    def __init__(self, storage: S3Storage) -> None:
        self.storage = storage
        self.s3 = storage.s3
        self.layout = storage.layout
        self.home = storage.home

    def _record(self, bucket: str, upload_id: str) -> str:
        return self.layout.uploads(bucket) + upload_id

    def _part(self, upload_id: str, number: int) -> str:
        return f"{self.layout.parts(upload_id)}{number:05d}"

    async def create(self, bucket: str, key: str, meta: ObjectMeta) -> Upload:
        await self.storage.require_bucket(bucket)
        upload = Upload(bucket, key, new_upload_id(), time.time(), meta)
        await self.s3.put_json(self.home, self._record(bucket, upload.upload_id), rec.dump_upload(upload))
        return upload

    async def _load(self, bucket: str, upload_id: str) -> Upload | None:
        # The id becomes part of a key: anything but OSS's own form could address other records.
        if UPLOAD_ID.fullmatch(upload_id) is None:
            return None
        found = await self.s3.get_json(self.home, self._record(bucket, upload_id))
        return rec.load_upload(bucket, upload_id, found[0]) if found else None

    async def get(self, bucket: str, key: str, upload_id: str) -> Upload | None:
        upload = await self._load(bucket, upload_id)
        return upload if upload is not None and upload.key == key else None

    async def require(self, upload: Upload) -> None:
        if await self._load(upload.bucket, upload.upload_id) is None:
            raise errors.NoSuchUpload(UploadId=upload.upload_id)

    async def put_part(self, upload: Upload, number: int, blob: StagedBlob) -> Part:
        await self.require(upload)
        part = Part(number, blob.md5.hex().upper(), blob.size, blob.crc64, time.time(), blob.blob_id)
        key = self._part(upload.upload_id, number)
        old = await self.s3.get_json(self.home, key)
        await self.s3.put_json(self.home, key, rec.dump_part(part))
        if old is not None:
            replaced = rec.load_part(old[0])
            self.storage.release([Segment(replaced.blob_id, replaced.size)], now=True)
        return part

    async def parts(self, upload: Upload) -> list[Part]:
        await self.require(upload)
        return await self._parts(upload.upload_id)

    async def _parts(self, upload_id: str) -> list[Part]:
        keys = await self.s3.list_keys(self.home, self.layout.parts(upload_id), limit=10_000)
        found = await gather_bounded(self.s3.get_json(self.home, key) for key in keys)
        return sorted((rec.load_part(f[0]) for f in found if f is not None), key=lambda p: p.number)

    async def listing(
        self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str, limit: int
    ) -> list[Upload]:
        listed = self.layout.uploads(bucket)
        ids = [k[len(listed) :] for k in await self.s3.list_keys(self.home, listed, limit=MAX_UPLOADS_LISTED)]
        loaded = await gather_bounded(self._load(bucket, upload_id) for upload_id in ids)

        def order(u: Upload) -> tuple[bytes, float, str]:
            return (u.key.encode(), u.initiated, u.upload_id)

        found = sorted((u for u in loaded if u is not None and u.key.startswith(prefix)), key=order)
        marker = key_marker.encode()
        after = next((u for u in found if u.upload_id == upload_id_marker), None)
        if upload_id_marker and after is not None and after.key == key_marker:
            return [u for u in found if order(u) > order(after)][:limit]
        return [
            u
            for u in found
            if u.key.encode() > marker
            or (u.key.encode() == marker and upload_id_marker and u.upload_id > upload_id_marker)
        ][:limit]

    async def remove(self, upload: Upload, unused: list[Part]) -> None:
        """Forget the upload and its part records; delete the blobs of ``unused`` parts."""
        keys = await self.s3.list_keys(self.home, self.layout.parts(upload.upload_id), limit=10_000)
        await self.s3.delete(self.home, self._record(upload.bucket, upload.upload_id))
        if keys:
            await self.s3.delete_many(self.home, keys)
        self.storage.release([Segment(p.blob_id, p.size) for p in unused], now=True)
