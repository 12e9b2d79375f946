"""Multipart uploads: OSS's rules for parts, completion and listing."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable
from dataclasses import dataclass, field

from ossdoc import crc64, errors
from ossdoc.backends.storage.base import Check, ObjectMeta, ObjectRecord, Part, Upload
from ossdoc.services.objects import ObjectStore

MAX_PART_SIZE = 5 * 1024**3
MIN_PART_SIZE = 100 * 1024  # every part but the last
MAX_PART_NUMBER = 10_000


@dataclass(frozen=True)
class PartRef:
    number: int
    etag: str  # as the client sent it, quotes stripped


def check_part_number(raw: str | None) -> int:
    try:
        number = int(raw or "")
    except ValueError as exc:
        raise errors.InvalidArgument("Part number must be an integer between 1 and 10000.") from exc
    if not 1 <= number <= MAX_PART_NUMBER:
        raise errors.InvalidArgument("Part number must be an integer between 1 and 10000.")
    return number


def multipart_etag(parts: list[Part]) -> str:
    digest = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in parts), usedforsecurity=False)
    return f"{digest.hexdigest().upper()}-{len(parts)}"


def combined_crc(parts: list[Part]) -> int:
    value = 0
    for part in parts:
        value = crc64.combine(value, part.crc64, part.size)
    return value


class Multipart:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.backend = store.backend

    async def initiate(self, bucket: str, key: str, meta: ObjectMeta) -> Upload:
        await self.store.bucket(bucket)
        return await self.backend.create_upload(bucket, key, meta)

    async def upload(self, bucket: str, key: str, upload_id: str) -> Upload:
        found = await self.backend.get_upload(bucket, key, upload_id)
        if found is None:
            await self.store.bucket(bucket)
            raise errors.NoSuchUpload(UploadId=upload_id)
        return found

    async def put_part(
        self, upload: Upload, number: int, body: AsyncIterable[bytes], md5: bytes | None
    ) -> Part:
        blob = await self.store.stage(upload.bucket, body, MAX_PART_SIZE, md5)
        try:
            return await self.backend.put_part(upload, number, blob)
        except BaseException:
            await self.backend.discard(blob)
            raise

    async def copy_part(
        self, upload: Upload, number: int, source: ObjectRecord, start: int, end: int
    ) -> Part:
        return await self.put_part(upload, number, self.store.read(source, start, end), None)

    async def complete(
        self, upload: Upload, refs: list[PartRef] | None, check: Check | None = None
    ) -> ObjectRecord:
        """``refs`` None completes with every uploaded part (``x-oss-complete-all: yes``)."""
        stored = {part.number: part for part in await self.backend.list_parts(upload)}
        if refs is None:
            chosen = [stored[n] for n in sorted(stored)]
        else:
            chosen = []
            previous = 0
            for ref in refs:
                if ref.number <= previous:
                    raise errors.InvalidPartOrder(
                        "The list of parts was not in ascending order. Parts must be ordered by part number.",
                        UploadId=upload.upload_id,
                    )
                previous = ref.number
                part = stored.get(ref.number)
                if part is None or part.etag != ref.etag.strip('"').upper():
                    raise errors.InvalidPart(
                        "One or more of the specified parts could not be found or the specified entity tag "
                        "might not have matched the part's entity tag.",
                        UploadId=upload.upload_id,
                        PartNumber=str(ref.number),
                        ETag=ref.etag,
                    )
                chosen.append(part)
        for part in chosen[:-1]:
            if part.size < MIN_PART_SIZE:
                raise errors.EntityTooSmall(
                    "Your proposed upload is smaller than the minimum allowed size.",
                    PartNumber=str(part.number),
                    PartSize=str(part.size),
                    MinSizeAllowed=str(MIN_PART_SIZE),
                )
        return await self.backend.complete_upload(
            upload, chosen, etag=multipart_etag(chosen), crc64=combined_crc(chosen), check=check
        )

    async def abort(self, upload: Upload) -> None:
        await self.backend.abort_upload(upload)

    async def parts(self, upload: Upload, marker: int, max_parts: int) -> tuple[list[Part], bool]:
        after = [p for p in await self.backend.list_parts(upload) if p.number > marker]
        return after[:max_parts], len(after) > max_parts

    async def uploads(
        self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str, max_uploads: int
    ) -> tuple[list[Upload], bool]:
        page = await self.list_uploads(bucket, prefix, "", key_marker, upload_id_marker, max_uploads)
        return page.uploads, page.truncated

    async def list_uploads(
        self, bucket: str, prefix: str, delimiter: str, key_marker: str, upload_id_marker: str, limit: int
    ) -> UploadListing:
        """One page of ListMultipartUploads: uploads by key, then upload ID (initiation order), and
        keys sharing a prefix up to ``delimiter`` as one common prefix, ``limit`` entries in all."""
        await self.store.bucket(bucket)
        page = UploadListing()
        after_key, after_id = key_marker, upload_id_marker
        while True:
            batch = await self.backend.list_uploads(
                bucket, prefix, after_key, after_id, limit - page.count + 1
            )
            for upload in batch:
                common = _common_prefix(upload.key, prefix, delimiter)
                if common is not None and common <= key_marker:
                    after_key, after_id = common + _PAST, ""  # listed on an earlier page
                    break
                if page.count == limit:
                    page.truncated = True
                    return page
                if common is None:
                    page.uploads.append(upload)
                    page.next_key_marker, page.next_upload_id_marker = upload.key, upload.upload_id
                    after_key, after_id = upload.key, upload.upload_id
                    continue
                page.prefixes.append(common)
                page.next_key_marker, page.next_upload_id_marker = common, ""
                after_key, after_id = common + _PAST, ""
                break  # re-query past every upload under this prefix
            else:
                return page  # the backend had no more


# Past every key that starts with a prefix: no key holds a character above U+10FFFF.
_PAST = "\U0010ffff"


@dataclass
class UploadListing:
    uploads: list[Upload] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    next_key_marker: str = ""
    next_upload_id_marker: str = ""

    @property
    def count(self) -> int:
        return len(self.uploads) + len(self.prefixes)


def _common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    index = key.find(delimiter, len(prefix))
    return None if index < 0 else key[: index + len(delimiter)]
