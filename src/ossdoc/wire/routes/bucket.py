"""Bucket operations: Put/Delete/Info/Location/Acl/Stat, ListObjects (V1, V2), DeleteMultipleObjects."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.responses import Response

from ossdoc import errors
from ossdoc.backends.storage.base import ObjectRecord
from ossdoc.services.naming import STORAGE_CLASSES, check_acl
from ossdoc.wire import xml
from ossdoc.wire.context import Context
from ossdoc.wire.routes.common import (
    acl_grant,
    check_md5,
    content_md5,
    empty,
    encoding_type,
    int_param,
    iso8601,
    owner,
    xml_reply,
)
from ossdoc.wire.routes.versions import is_null_version
from ossdoc.wire.routing import Router

router = Router()
MAX_CONFIG_BODY = 64 * 1024
MAX_DELETE_BODY = 2 * 1024 * 1024
MAX_DELETE_KEYS = 1000


@router.route("PUT", "bucket", "acl")
async def put_bucket_acl(ctx: Context) -> Response:
    acl = check_acl(ctx.headers.get("x-oss-acl", ""))
    await ctx.state.store.set_bucket_acl(ctx.require_bucket(), acl)
    return empty()


@router.route("PUT", "bucket")
async def put_bucket(ctx: Context) -> Response:
    acl = check_acl(ctx.headers.get("x-oss-acl", "private"))
    storage_class = "Standard"
    body = await ctx.body(MAX_CONFIG_BODY)
    if body.strip():
        root = xml.parse(body)
        storage_class = xml.child_text(root, "StorageClass", "Standard") or "Standard"
        if storage_class not in STORAGE_CLASSES:
            raise errors.InvalidArgument(
                f"Invalid storage class {storage_class!r}.", ArgumentName="StorageClass"
            )
    await ctx.state.store.create_bucket(ctx.require_bucket(), acl, storage_class)
    return empty(headers={"Location": "/" + ctx.require_bucket()})


@router.route("DELETE", "bucket")
async def delete_bucket(ctx: Context) -> Response:
    await ctx.state.store.delete_bucket(ctx.require_bucket())
    return empty(204)


@router.route("GET", "bucket", "acl")
async def get_bucket_acl(ctx: Context) -> Response:
    bucket = await ctx.state.store.bucket(ctx.require_bucket())
    return xml_reply("AccessControlPolicy", {"Owner": owner(ctx), **acl_grant(bucket.acl)})


@router.route("GET", "bucket", "location")
async def get_bucket_location(ctx: Context) -> Response:
    await ctx.state.store.bucket(ctx.require_bucket())
    return Response(
        xml.to_bytes(xml.element("LocationConstraint", text=f"oss-{ctx.state.settings.region}")),
        media_type="application/xml",
    )


@router.route("GET", "bucket", "bucketInfo")
async def get_bucket_info(ctx: Context) -> Response:
    bucket = await ctx.state.store.bucket(ctx.require_bucket())
    settings = ctx.state.settings
    info = {
        "AccessMonitor": "Disabled",
        "CreationDate": iso8601(bucket.created),
        "ExtranetEndpoint": settings.endpoint,
        "IntranetEndpoint": settings.endpoint,
        "Location": f"oss-{settings.region}",
        "StorageClass": bucket.storage_class,
        "TransferAcceleration": "Disabled",
        "CrossRegionReplication": "Disabled",
        "Name": bucket.name,
        "Region": settings.region,
        "Owner": owner(ctx),
        **acl_grant(bucket.acl),
        "DataRedundancyType": "LRS",
        "Comment": "",
        "ServerSideEncryptionRule": {"SSEAlgorithm": "None"},
        "BucketPolicy": {"LogBucket": "", "LogPrefix": ""},
    }
    return xml_reply("BucketInfo", {"Bucket": info})


@router.route("GET", "bucket", "stat")
async def get_bucket_stat(ctx: Context) -> Response:
    store = ctx.state.store
    bucket = ctx.require_bucket()
    count = size = 0
    marker = ""
    while True:
        page = await store.list(bucket, "", "", marker, 1000)
        count += len(page.objects)
        size += sum(o.size for o in page.objects)
        if not page.truncated:
            break
        marker = page.next_marker
    uploads, _ = await ctx.state.multipart.uploads(bucket, "", "", "", 1000)
    return xml_reply(
        "BucketStat",
        {
            "Storage": str(size),
            "ObjectCount": str(count),
            "MultipartUploadCount": str(len(uploads)),
            "StandardStorage": str(size),
            "StandardObjectCount": str(count),
        },
    )


def _contents(ctx: Context, record: ObjectRecord, encoding: str | None, with_owner: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Key": xml.encode_key(record.key, encoding),
        "LastModified": iso8601(record.last_modified),
        "ETag": f'"{record.etag}"',
        "Type": record.object_type,
        "Size": str(record.size),
        "StorageClass": record.meta.storage_class,
    }
    if with_owner:
        entry["Owner"] = owner(ctx)
    return entry


def _token(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode()).decode()


def _untoken(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise errors.InvalidArgument(
            "The continuation token is not valid.", ArgumentName="continuation-token"
        ) from exc


@router.route("GET", "bucket", anonymous="read")
async def list_objects(ctx: Context) -> Response:
    q = ctx.query
    v2 = q.get("list-type") == "2"
    encoding = encoding_type(ctx)
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    max_keys = int_param(ctx, "max-keys", 100, 0, 1000)
    if v2:
        token = q.get("continuation-token")
        marker = _untoken(token) if token else q.get("start-after", "")
    else:
        marker = q.get("marker", "")
    page = await ctx.state.store.list(ctx.require_bucket(), prefix, delimiter, marker, max_keys)

    def enc(value: str) -> str:
        return xml.encode_key(value, encoding)

    body: dict[str, Any] = {"Name": ctx.require_bucket(), "Prefix": enc(prefix)}
    if v2:
        if "start-after" in q:
            body["StartAfter"] = enc(q["start-after"])
        if "continuation-token" in q:
            body["ContinuationToken"] = q["continuation-token"]
    else:
        body["Marker"] = enc(marker)
    body["MaxKeys"] = str(max_keys)
    body["Delimiter"] = enc(delimiter)
    if encoding:
        body["EncodingType"] = encoding
    body["IsTruncated"] = page.truncated
    if page.truncated:
        if v2:
            body["NextContinuationToken"] = _token(page.next_marker)
        else:
            body["NextMarker"] = enc(page.next_marker)
    with_owner = not v2 or q.get("fetch-owner") == "true"
    body["Contents"] = [_contents(ctx, r, encoding, with_owner) for r in page.objects]
    body["CommonPrefixes"] = [{"Prefix": enc(p)} for p in page.prefixes]
    if v2:
        body["KeyCount"] = str(page.count)
    return xml_reply("ListBucketResult", body)


@router.route("POST", "bucket", "delete", anonymous="write")
async def delete_multiple_objects(ctx: Context) -> Response:
    body = await ctx.body(MAX_DELETE_BODY)
    check_md5(content_md5(ctx), body)
    root, mapping = xml.parse_lenient(body)
    quiet = (xml.child_text(root, "Quiet", "false") or "false").strip().lower() == "true"
    targets: list[tuple[str, str | None]] = []
    for node in root.findall("Object"):
        key = xml.child_text(node, "Key")
        if key is None or key == "":
            raise errors.MalformedXML("Each Object needs a Key.")
        targets.append((xml.restore(key, mapping), xml.child_text(node, "VersionId")))
    if len(targets) > MAX_DELETE_KEYS:
        raise errors.MalformedXML(f"At most {MAX_DELETE_KEYS} objects can be deleted at once.")
    # Without versioning only the "null" version exists; deleting another one has nothing to do.
    keys = [key for key, version in targets if is_null_version(version)]
    await ctx.state.store.delete_many(ctx.require_bucket(), keys)
    encoding = encoding_type(ctx)
    reply: dict[str, Any] = {}
    if encoding:
        reply["EncodingType"] = encoding
    if not quiet:
        reply["Deleted"] = [
            {"Key": xml.encode_key(key, encoding), "VersionId": version} for key, version in targets
        ]
    return xml_reply("DeleteResult", reply)
