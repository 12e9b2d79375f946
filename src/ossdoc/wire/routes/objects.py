"""Object operations: Put/Get/Head/Delete/Copy/Append, object ACL, tagging, GetObjectMeta."""

from __future__ import annotations

import base64
from dataclasses import replace
from urllib.parse import unquote

from starlette.responses import Response, StreamingResponse

from ossdoc import errors
from ossdoc.backends.storage.base import Check, ObjectMeta, ObjectRecord
from ossdoc.services.naming import OBJECT_ACLS, check_acl
from ossdoc.wire import conditions, xml, zerocopy
from ossdoc.wire.context import Context
from ossdoc.wire.headers import (
    check_tags,
    meta_from_headers,
    object_headers,
    parse_tagging,
    response_value,
    write_headers,
)
from ossdoc.wire.ranges import parse_range
from ossdoc.wire.routes.common import acl_grant, content_md5, empty, int_param, iso8601, owner, xml_reply
from ossdoc.wire.routing import Router

router = Router()
MAX_TAGGING_BODY = 64 * 1024
# A body up to this size is read at once and sent as one message: a StreamingResponse costs a task
# group per request (to watch for a disconnect), more than a small read itself.
WHOLE_BODY = 64 * 1024
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


def forbid_overwrite(ctx: Context) -> Check | None:
    if ctx.headers.get("x-oss-forbid-overwrite", "").lower() != "true":
        return None

    def check(current: ObjectRecord | None) -> None:
        if current is not None:
            raise errors.FileAlreadyExists()

    return check


@router.route("PUT", "object", "acl")
async def put_object_acl(ctx: Context) -> Response:
    acl = check_acl(ctx.headers.get("x-oss-object-acl", ""), OBJECT_ACLS)
    record = await ctx.state.store.head(ctx.require_bucket(), ctx.require_key())
    await ctx.state.store.update_meta(record.bucket, record.key, replace(record.meta, acl=acl))
    return empty()


@router.route("GET", "object", "acl")
async def get_object_acl(ctx: Context) -> Response:
    record = await ctx.state.store.head(ctx.require_bucket(), ctx.require_key())
    return xml_reply("AccessControlPolicy", {"Owner": owner(ctx), **acl_grant(record.meta.acl)})


@router.route("PUT", "object", "tagging")
async def put_object_tagging(ctx: Context) -> Response:
    root = xml.parse(await ctx.body(MAX_TAGGING_BODY))
    tags: dict[str, str] = {}
    for tag in root.findall("TagSet/Tag"):
        tags[xml.child_text(tag, "Key", "") or ""] = xml.child_text(tag, "Value", "") or ""
    check_tags(tags)
    record = await ctx.state.store.head(ctx.require_bucket(), ctx.require_key())
    await ctx.state.store.update_meta(record.bucket, record.key, replace(record.meta, tags=tags))
    return empty()


@router.route("GET", "object", "tagging")
async def get_object_tagging(ctx: Context) -> Response:
    record = await ctx.state.store.head(ctx.require_bucket(), ctx.require_key())
    tags = [{"Key": k, "Value": v} for k, v in record.meta.tags.items()]
    return xml_reply("Tagging", {"TagSet": {"Tag": tags}})


@router.route("DELETE", "object", "tagging")
async def delete_object_tagging(ctx: Context) -> Response:
    record = await ctx.state.store.head(ctx.require_bucket(), ctx.require_key())
    await ctx.state.store.update_meta(record.bucket, record.key, replace(record.meta, tags={}))
    return empty(204)


@router.route("HEAD", "object", "objectMeta", anonymous="read")
@router.route("GET", "object", "objectMeta", anonymous="read")
async def get_object_meta(ctx: Context) -> Response:
    record = await ctx.state.store.head(ctx.require_bucket(), ctx.require_key())
    headers = {
        "ETag": f'"{record.etag}"',
        "Last-Modified": conditions.http_date(record.last_modified),
        "x-oss-hash-crc64ecma": str(record.crc64),
    }
    if ctx.method == "HEAD":  # the object's size; a GET has an empty body, and says so
        headers["Content-Length"] = str(record.size)
    return Response(b"", headers=headers)


@router.route("POST", "object", "append", anonymous="write")
async def append_object(ctx: Context) -> Response:
    position = int_param(ctx, "position", -1, 0, 2**63 - 1)
    if position < 0:
        raise errors.InvalidArgument("Append needs a position.", ArgumentName="position")
    key = ctx.require_key()
    record = await ctx.state.store.append(
        ctx.require_bucket(),
        key,
        position,
        ctx.stream(),
        meta_from_headers(ctx.headers, key),
        md5=content_md5(ctx),
    )
    return empty(headers={**write_headers(record), "x-oss-next-append-position": str(record.size)})


@router.route("PUT", "object", anonymous="write")
async def put_object(ctx: Context) -> Response:
    if "x-oss-copy-source" in ctx.headers:
        return await copy_object(ctx)
    key = ctx.require_key()
    md5 = content_md5(ctx)
    record = await ctx.state.store.put(
        ctx.require_bucket(),
        key,
        ctx.stream(),
        meta_from_headers(ctx.headers, key),
        md5=md5,
        check=forbid_overwrite(ctx),
    )
    headers = write_headers(record)
    headers["Content-MD5"] = base64.b64encode(bytes.fromhex(record.etag)).decode()
    return empty(headers=headers)


async def copy_source(ctx: Context) -> ObjectRecord:
    """The object named by ``x-oss-copy-source: /bucket/key`` (key URL-encoded), its conditions met."""
    raw = unquote(ctx.headers["x-oss-copy-source"])
    bucket, _, key = raw.lstrip("/").partition("/")
    if not bucket or not key:
        raise errors.InvalidArgument(
            "x-oss-copy-source must be /bucket/key.", ArgumentName="x-oss-copy-source"
        )
    source = await ctx.state.store.head(bucket, key)
    try:
        conditions.evaluate(ctx.headers, source, prefix="x-oss-copy-source-")
    except errors.NotModified as exc:
        # A copy whose source is unchanged is refused, not answered with 304 and no body.
        raise errors.PreconditionFailed(Condition="x-oss-copy-source-if-none-match") from exc
    return source


async def copy_object(ctx: Context) -> Response:
    source = await copy_source(ctx)
    key = ctx.require_key()
    directive = ctx.headers.get("x-oss-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise errors.InvalidArgument("x-oss-metadata-directive must be COPY or REPLACE.")
    meta: ObjectMeta | None = meta_from_headers(ctx.headers, key) if directive == "REPLACE" else None
    if meta is None:
        acl = check_acl(ctx.headers.get("x-oss-object-acl", "default"), OBJECT_ACLS)
        meta = replace(source.meta, acl=acl)
    if ctx.headers.get("x-oss-tagging-directive", "COPY").upper() == "COPY":
        meta = replace(meta, tags=source.meta.tags)
    else:
        meta = replace(meta, tags=parse_tagging(ctx.headers.get("x-oss-tagging", "")))
    record = await ctx.state.store.copy(source, ctx.require_bucket(), key, meta, forbid_overwrite(ctx))
    return xml_reply(
        "CopyObjectResult",
        {"ETag": f'"{record.etag}"', "LastModified": iso8601(record.last_modified)},
        headers={"ETag": f'"{record.etag}"', "x-oss-hash-crc64ecma": str(record.crc64)},
    )


@router.route("HEAD", "object", anonymous="read")
async def head_object(ctx: Context) -> Response:
    record = await ctx.state.store.head(ctx.require_bucket(), ctx.require_key())
    conditions.evaluate(ctx.headers, record)
    headers = object_headers(record)
    headers["Content-Length"] = str(record.size)
    return Response(b"", headers=headers)


@router.route("GET", "object", anonymous="read")
async def get_object(ctx: Context) -> Response:
    store = ctx.state.store
    record = await store.head(ctx.require_bucket(), ctx.require_key())
    conditions.evaluate(ctx.headers, record)
    standard = ctx.headers.get("x-oss-range-behavior", "").lower() == "standard"
    span = parse_range(ctx.headers.get("range"), record.size, standard)
    headers = object_headers(record)
    if not ctx.query_names.isdisjoint(RESPONSE_OVERRIDES):
        for param, header in RESPONSE_OVERRIDES.items():
            if param in ctx.query:
                headers[header] = response_value(param, ctx.query[param])
    status = 200
    start, end = 0, record.size
    if span is not None:
        start, end = span
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{record.size}"
    headers["Content-Length"] = str(end - start)
    body = store.read(record, start, end)
    if end - start <= WHOLE_BODY:
        return Response(b"".join([chunk async for chunk in body]), status_code=status, headers=headers)
    files = zerocopy.files_of(body, ctx.request.scope)
    if files is not None:
        return zerocopy.ZeroCopyResponse(body, files, status, headers)  # type: ignore[arg-type]
    return StreamingResponse(body, status_code=status, headers=headers)


@router.route("DELETE", "object", anonymous="write")
async def delete_object(ctx: Context) -> Response:
    await ctx.state.store.delete(ctx.require_bucket(), ctx.require_key())
    return empty(204)
