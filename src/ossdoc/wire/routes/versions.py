"""Object versions in a bucket whose versioning was never enabled, as OSS has them: every object has
exactly one version, ``null``, which is the latest. ListObjectVersions lists the current objects that
way, and ``?versionId=null`` addresses the object itself; any other version does not exist."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ossdoc import errors
from ossdoc.wire import xml
from ossdoc.wire.context import Context
from ossdoc.wire.routes import objects
from ossdoc.wire.routes.common import empty, encoding_type, int_param, iso8601, owner, xml_reply
from ossdoc.wire.routing import Router

router = Router()
NULL_VERSION = "null"


def is_null_version(version_id: str | None) -> bool:
    return version_id in (None, "", NULL_VERSION)


@router.route("GET", "bucket", "versions", anonymous="read")
async def list_object_versions(ctx: Context) -> Response:
    q = ctx.query
    encoding = encoding_type(ctx)
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    key_marker, version_marker = q.get("key-marker", ""), q.get("version-id-marker", "")
    max_keys = int_param(ctx, "max-keys", 100, 1, 1000)
    # One version per key, so "after the marker's version" is "after the marker's key".
    page = await ctx.state.store.list(ctx.require_bucket(), prefix, delimiter, key_marker, max_keys)

    def enc(value: str) -> str:
        return xml.encode_key(value, encoding)

    body: dict[str, Any] = {
        "Name": ctx.require_bucket(),
        "Prefix": enc(prefix),
        "KeyMarker": enc(key_marker),
        "VersionIdMarker": version_marker,
        "MaxKeys": str(max_keys),
        "Delimiter": enc(delimiter),
        "IsTruncated": page.truncated,
    }
    if page.truncated:
        body["NextKeyMarker"] = enc(page.next_marker)
        body["NextVersionIdMarker"] = NULL_VERSION
    if encoding:
        body["EncodingType"] = encoding
    body["Version"] = [
        {
            "Key": enc(record.key),
            "VersionId": NULL_VERSION,
            "IsLatest": True,
            "LastModified": iso8601(record.last_modified),
            "ETag": f'"{record.etag}"',
            "Type": record.object_type,
            "Size": str(record.size),
            "StorageClass": record.meta.storage_class,
            "Owner": owner(ctx),
        }
        for record in page.objects
    ]
    body["CommonPrefixes"] = [{"Prefix": enc(p)} for p in page.prefixes]
    return xml_reply("ListVersionsResult", body)


async def _no_such_version(ctx: Context) -> None:
    """A version other than ``null``: the object may exist, that version does not."""
    await ctx.state.store.bucket(ctx.require_bucket())
    raise errors.NoSuchVersion(Key=ctx.require_key(), VersionId=ctx.query["versionId"])


@router.route("GET", "object", "versionId", anonymous="read")
async def get_version(ctx: Context) -> Response:
    if not is_null_version(ctx.query["versionId"]):
        await _no_such_version(ctx)
    return await objects.get_object(ctx)


@router.route("HEAD", "object", "versionId", anonymous="read")
async def head_version(ctx: Context) -> Response:
    if not is_null_version(ctx.query["versionId"]):
        await _no_such_version(ctx)
    return await objects.head_object(ctx)


@router.route("DELETE", "object", "versionId", anonymous="write")
async def delete_version(ctx: Context) -> Response:
    if is_null_version(ctx.query["versionId"]):
        return await objects.delete_object(ctx)
    # Deleting a version that does not exist leaves nothing to do, as a delete of a missing key.
    await ctx.state.store.bucket(ctx.require_bucket())
    return empty(204)
