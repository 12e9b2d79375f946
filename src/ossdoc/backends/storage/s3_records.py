"""S3Storage's records as JSON bodies, and OSS metadata mirrored onto S3 object metadata.

An object's record is the body of the S3 object at its key: exact (float Last-Modified, unsigned
CRC-64, UTF-8 metadata) and read in one GET. The same metadata is also set as the S3 object's own
(Content-Type, Cache-Control, ..., ``x-amz-meta-*``, ``x-amz-meta-ossdoc-*``), so S3 tools see it."""

from __future__ import annotations

import base64
from dataclasses import fields
from typing import Any

from ossdoc.backends.storage.base import Bucket, ObjectMeta, ObjectRecord, Part, Segment, Upload

_CONTENT_HEADERS = {
    "cache-control": "CacheControl",
    "content-disposition": "ContentDisposition",
    "content-encoding": "ContentEncoding",
    "content-language": "ContentLanguage",
}


def dump_meta(meta: ObjectMeta) -> dict[str, Any]:
    return {f.name: getattr(meta, f.name) for f in fields(meta)}


def load_meta(raw: dict[str, Any]) -> ObjectMeta:
    return ObjectMeta(**raw)


def dump_object(record: ObjectRecord) -> dict[str, Any]:
    return {
        "size": record.size,
        "etag": record.etag,
        "crc64": str(record.crc64),
        "mtime": record.last_modified,
        "type": record.object_type,
        "meta": dump_meta(record.meta),
        "segments": [[s.blob_id, s.size] for s in record.segments],
    }


def load_object(bucket: str, key: str, raw: dict[str, Any]) -> ObjectRecord:
    return ObjectRecord(
        bucket=bucket,
        key=key,
        size=raw["size"],
        etag=raw["etag"],
        crc64=int(raw["crc64"]),
        last_modified=raw["mtime"],
        object_type=raw["type"],
        meta=load_meta(raw["meta"]),
        segments=tuple(Segment(blob_id, size) for blob_id, size in raw["segments"]),
    )


def _ascii(value: str) -> str:
    """S3 metadata travels in HTTP headers: non-ASCII values as RFC 2047, as AWS's SDKs do."""
    if value.isascii() and value.isprintable():
        return value
    return f"=?UTF-8?B?{base64.b64encode(value.encode()).decode()}?="


def s3_metadata(record: ObjectRecord) -> dict[str, Any]:
    """PutObject arguments that mirror the record onto the S3 object."""
    meta = record.meta
    user = {name.removeprefix("x-oss-meta-"): _ascii(v) for name, v in meta.user_meta.items()}
    user.update(
        {
            "ossdoc-type": record.object_type,
            "ossdoc-etag": record.etag,
            "ossdoc-crc64": str(record.crc64),
            "ossdoc-size": str(record.size),
            "ossdoc-acl": meta.acl,
        }
    )
    extra: dict[str, Any] = {"ContentType": _ascii(meta.content_type), "Metadata": user}
    for header, argument in _CONTENT_HEADERS.items():
        if header in meta.headers:
            extra[argument] = _ascii(meta.headers[header])
    return extra


def dump_bucket(bucket: Bucket) -> dict[str, Any]:
    return {"created": bucket.created, "acl": bucket.acl, "storage_class": bucket.storage_class}


def load_bucket(name: str, raw: dict[str, Any]) -> Bucket:
    return Bucket(name, raw["created"], raw["acl"], raw["storage_class"])


def dump_upload(upload: Upload) -> dict[str, Any]:
    return {"key": upload.key, "initiated": upload.initiated, "meta": dump_meta(upload.meta)}


def load_upload(bucket: str, upload_id: str, raw: dict[str, Any]) -> Upload:
    return Upload(bucket, raw["key"], upload_id, raw["initiated"], load_meta(raw["meta"]))


def dump_part(part: Part) -> dict[str, Any]:
    return {
        "number": part.number,
        "etag": part.etag,
        "size": part.size,
        "crc64": str(part.crc64),
        "mtime": part.last_modified,
        "blob_id": part.blob_id,
    }


def load_part(raw: dict[str, Any]) -> Part:
    return Part(raw["number"], raw["etag"], raw["size"], int(raw["crc64"]), raw["mtime"], raw["blob_id"])
