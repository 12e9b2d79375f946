"""Multipart upload operations."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ossdoc import errors
from ossdoc.backends.storage.base import Upload
from ossdoc.services.multipart import PartRef, check_part_number
from ossdoc.wire import xml
from ossdoc.wire.context import Context
from ossdoc.wire.headers import meta_from_headers, write_headers
from ossdoc.wire.ranges import parse_range
from ossdoc.wire.routes.common import content_md5, empty, encoding_type, int_param, iso8601, xml_reply
from ossdoc.wire.routes.objects import copy_source, forbid_overwrite
from ossdoc.wire.routing import Router

router = Router()
MAX_COMPLETE_BODY = 4 * 1024 * 1024


async def current_upload(ctx: Context) -> Upload:
    return await ctx.state.multipart.upload(ctx.require_bucket(), ctx.require_key(), ctx.query["uploadId"])


@router.route("POST", "object", "uploads", anonymous="write")
async def initiate(ctx: Context) -> Response:
    key = ctx.require_key()
    upload = await ctx.state.multipart.initiate(
        ctx.require_bucket(), key, meta_from_headers(ctx.headers, key)
    )
    encoding = encoding_type(ctx)
    body: dict[str, Any] = {
        "Bucket": upload.bucket,
        "Key": xml.encode_key(key, encoding),
        "UploadId": upload.upload_id,
    }
    if encoding:
        body["EncodingType"] = encoding
    return xml_reply("InitiateMultipartUploadResult", body)


@router.route("PUT", "object", "uploadId", anonymous="write")
async def upload_part(ctx: Context) -> Response:
    number = check_part_number(ctx.query.get("partNumber"))
    upload = await current_upload(ctx)
    multipart = ctx.state.multipart
    if "x-oss-copy-source" in ctx.headers:
        source = await copy_source(ctx)
        span = parse_range(ctx.headers.get("x-oss-copy-source-range"), source.size, standard=True)
        start, end = span if span is not None else (0, source.size)
        part = await multipart.copy_part(upload, number, source, start, end)
        return xml_reply(
            "CopyPartResult",
            {"LastModified": iso8601(part.last_modified), "ETag": f'"{part.etag}"'},
            headers={"ETag": f'"{part.etag}"', "x-oss-hash-crc64ecma": str(part.crc64)},
        )
    part = await multipart.put_part(upload, number, ctx.stream(), content_md5(ctx))
    return empty(headers={"ETag": f'"{part.etag}"', "x-oss-hash-crc64ecma": str(part.crc64)})


def _part_refs(body: bytes) -> list[PartRef]:
    root = xml.parse(body)
    if root.tag != "CompleteMultipartUpload":
        raise errors.MalformedXML()
    refs = []
    for node in root.findall("Part"):
        number, etag = xml.child_text(node, "PartNumber"), xml.child_text(node, "ETag")
        if not number or etag is None:
            raise errors.MalformedXML("Each Part needs a PartNumber and an ETag.")
        try:
            refs.append(PartRef(int(number), etag))
        except ValueError as exc:
            raise errors.MalformedXML("PartNumber must be an integer.") from exc
    if not refs:
        raise errors.MalformedXML(
            "The XML you provided was not well-formed or did not validate against our published schema."
        )
    return refs


@router.route("POST", "object", "uploadId", anonymous="write")
async def complete(ctx: Context) -> Response:
    upload = await current_upload(ctx)
    body = await ctx.body(MAX_COMPLETE_BODY)
    complete_all = ctx.headers.get("x-oss-complete-all", "").lower() == "yes"
    if complete_all and body.strip():
        raise errors.InvalidArgument("With x-oss-complete-all: yes the body must be empty.")
    refs = None if complete_all else _part_refs(body)
    record = await ctx.state.multipart.complete(upload, refs, forbid_overwrite(ctx))
    encoding = encoding_type(ctx)
    reply: dict[str, Any] = {}
    if encoding:
        reply["EncodingType"] = encoding
    host = ctx.headers.get("host", ctx.state.settings.endpoint)
    reply.update(
        {
            "Location": f"http://{host}/{upload.bucket}/{upload.key}",
            "Bucket": upload.bucket,
            "Key": xml.encode_key(upload.key, encoding),
            "ETag": f'"{record.etag}"',
        }
    )
    return xml_reply("CompleteMultipartUploadResult", reply, headers=write_headers(record))


@router.route("DELETE", "object", "uploadId", anonymous="write")
async def abort(ctx: Context) -> Response:
    await ctx.state.multipart.abort(await current_upload(ctx))
    return empty(204)


@router.route("GET", "object", "uploadId", anonymous="read")
async def list_parts(ctx: Context) -> Response:
    upload = await current_upload(ctx)
    marker = int_param(ctx, "part-number-marker", 0, 0, 10_000)
    max_parts = int_param(ctx, "max-parts", 1000, 1, 1000)
    parts, truncated = await ctx.state.multipart.parts(upload, marker, max_parts)
    encoding = encoding_type(ctx)
    body: dict[str, Any] = {
        "Bucket": upload.bucket,
        "Key": xml.encode_key(upload.key, encoding),
        "UploadId": upload.upload_id,
        "StorageClass": upload.meta.storage_class,
        "PartNumberMarker": str(marker),
        "NextPartNumberMarker": str(parts[-1].number if parts else marker),
        "MaxParts": str(max_parts),
        "IsTruncated": truncated,
    }
    if encoding:
        body["EncodingType"] = encoding
    body["Part"] = [
        {
            "PartNumber": str(p.number),
            "LastModified": iso8601(p.last_modified),
            "ETag": f'"{p.etag}"',
            "HashCrc64ecma": str(p.crc64),
            "Size": str(p.size),
        }
        for p in parts
    ]
    return xml_reply("ListPartsResult", body)


@router.route("GET", "bucket", "uploads", anonymous="read")
async def list_uploads(ctx: Context) -> Response:
    q = ctx.query
    prefix, key_marker, id_marker = (
        q.get("prefix", ""),
        q.get("key-marker", ""),
        q.get("upload-id-marker", ""),
    )
    max_uploads = int_param(ctx, "max-uploads", 1000, 1, 1000)
    delimiter = q.get("delimiter", "")
    page = await ctx.state.multipart.list_uploads(
        ctx.require_bucket(), prefix, delimiter, key_marker, id_marker, max_uploads
    )
    encoding = encoding_type(ctx)

    def enc(value: str) -> str:
        return xml.encode_key(value, encoding)

    body: dict[str, Any] = {
        "Bucket": ctx.require_bucket(),
        "KeyMarker": enc(key_marker),
        "UploadIdMarker": id_marker,
        "NextKeyMarker": enc(page.next_key_marker if page.truncated else ""),
        "NextUploadIdMarker": page.next_upload_id_marker if page.truncated else "",
        "Delimiter": enc(delimiter),
        "Prefix": enc(prefix),
        "MaxUploads": str(max_uploads),
        "IsTruncated": page.truncated,
    }
    if encoding:
        body["EncodingType"] = encoding
    body["Upload"] = [
        {
            "Key": enc(u.key),
            "UploadId": u.upload_id,
            "StorageClass": u.meta.storage_class,
            "Initiated": iso8601(u.initiated),
        }
        for u in page.uploads
    ]
    body["CommonPrefixes"] = [{"Prefix": enc(p)} for p in page.prefixes]
    return xml_reply("ListMultipartUploadsResult", body)
