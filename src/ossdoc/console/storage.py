"""The console's buckets and objects: the object store service, on behalf of the signed-in key.

Object keys travel in the query (``?key=``), never in the path, where a browser would resolve
``..`` and merge ``//``. Downloads are attachments, never rendered: an object's HTML must not run
as the console's own page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ossdoc import errors
from ossdoc.backends.storage.base import Bucket, ObjectMeta, ObjectRecord, Upload
from ossdoc.console.common import query_int, query_text, read_json, reply, text_field
from ossdoc.console.guard import authorized
from ossdoc.services.multipart import Multipart, check_part_number
from ossdoc.services.naming import ACLS
from ossdoc.wire import addressing
from ossdoc.wire.headers import guess_content_type

DELIMITER = "/"


def bucket_json(bucket: Bucket) -> dict[str, Any]:
    return {
        "name": bucket.name,
        "created": bucket.created,
        "acl": bucket.acl,
        "storageClass": bucket.storage_class,
    }


def object_json(record: ObjectRecord) -> dict[str, Any]:
    return {
        "key": record.key,
        "size": record.size,
        "etag": record.etag,
        "lastModified": record.last_modified,
        "type": record.object_type,
        "contentType": record.meta.content_type,
        "storageClass": record.meta.storage_class,
    }


async def list_buckets(request: Request) -> Response:
    caller = await authorized(request)
    buckets, _ = await caller.state.store.list_buckets("", "", 10_000)
    return reply({"buckets": [bucket_json(b) for b in buckets]})


async def create_bucket(request: Request) -> Response:
    caller = await authorized(request)
    body = await read_json(request)
    name = text_field(body, "name").strip()
    acl = text_field(body, "acl", required=False) or "private"
    if acl not in ACLS:
        raise errors.InvalidArgument(f"acl must be one of {', '.join(sorted(ACLS))}.", ArgumentName="acl")
    bucket = await caller.state.store.create_bucket(name, acl, "Standard")
    return reply(bucket_json(bucket), 201)


async def delete_bucket(request: Request) -> Response:
    caller = await authorized(request)
    name = request.path_params["bucket"]
    try:
        await caller.state.store.delete_bucket(name)
    except errors.BucketNotEmpty as exc:
        raise errors.BucketNotEmpty(
            "The bucket is not empty: delete its objects (and unfinished uploads) first.", BucketName=name
        ) from exc
    return reply({"deleted": name})


async def list_objects(request: Request) -> Response:
    """One page of the bucket's "folder" ``prefix``: objects and sub-folders (common prefixes)."""
    caller = await authorized(request)
    bucket = request.path_params["bucket"]
    prefix = query_text(request, "prefix", required=False)
    marker = query_text(request, "marker", required=False)
    max_keys = query_int(request, "max", 100, 1, 1000)
    page = await caller.state.store.list(bucket, prefix, DELIMITER, marker, max_keys)
    return reply(
        {
            "bucket": bucket,
            "prefix": prefix,
            "folders": page.prefixes,
            "objects": [object_json(r) for r in page.objects],
            "truncated": page.truncated,
            "nextMarker": page.next_marker if page.truncated else "",
        }
    )


async def head_object(request: Request) -> Response:
    caller = await authorized(request)
    record = await caller.state.store.head(request.path_params["bucket"], object_key(request))
    meta = record.meta
    details = {
        **object_json(record),
        "crc64": str(record.crc64),
        "acl": meta.acl,
        "headers": meta.headers,
        "userMeta": meta.user_meta,
        "tags": meta.tags,
    }
    return reply(details)


async def put_object(request: Request) -> Response:
    """The request's body becomes the object (a file dropped on the page, or an empty "folder/")."""
    caller = await authorized(request)
    key = object_key(request)
    meta = ObjectMeta(content_type=_content_type(request, key))
    record = await caller.state.store.put(request.path_params["bucket"], key, request.stream(), meta)
    return reply(object_json(record), 201)


async def delete_object(request: Request) -> Response:
    caller = await authorized(request)
    key = object_key(request)
    await caller.state.store.delete(request.path_params["bucket"], key)
    return reply({"deleted": key})


async def delete_folder(request: Request) -> Response:
    """Delete a "folder": every object whose key starts with ``prefix`` (which ends with ``/``)."""
    caller = await authorized(request)
    bucket, prefix = request.path_params["bucket"], query_text(request, "prefix")
    if not prefix.endswith(DELIMITER):
        raise errors.InvalidArgument("prefix must name a folder: end it with /.", ArgumentName="prefix")
    store, deleted = caller.state.store, 0
    while objects := (await store.list(bucket, prefix, "", "", 1000)).objects:
        deleted += len(await store.delete_many(bucket, [record.key for record in objects]))
    return reply({"deleted": deleted, "prefix": prefix})


async def download(request: Request) -> Response:
    caller = await authorized(request)
    store = caller.state.store
    record = await store.head(request.path_params["bucket"], object_key(request))
    name = record.key.rstrip("/").rsplit("/", 1)[-1] or "object"
    headers = {
        "Content-Length": str(record.size),
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "no-store",
    }
    return StreamingResponse(store.read(record), media_type="application/octet-stream", headers=headers)


# Multipart: the page slices a large file and sends the slices one by one, each with its own progress.
async def start_upload(request: Request) -> Response:
    caller = await authorized(request)
    body = await read_json(request)
    key = text_field(body, "key")
    addressing.validate_key(key)
    content_type = text_field(body, "contentType", required=False) or guess_content_type(key)
    upload = await caller.state.multipart.initiate(
        request.path_params["bucket"], key, ObjectMeta(content_type=content_type)
    )
    return reply({"uploadId": upload.upload_id, "key": key}, 201)


async def put_part(request: Request) -> Response:
    multipart, upload = await _upload(request)
    number = check_part_number(request.query_params.get("part"))
    part = await multipart.put_part(upload, number, request.stream(), None)
    return reply({"part": part.number, "etag": part.etag, "size": part.size})


async def complete_upload(request: Request) -> Response:
    multipart, upload = await _upload(request)
    record = await multipart.complete(upload, None)
    return reply(object_json(record), 201)


async def abort_upload(request: Request) -> Response:
    multipart, upload = await _upload(request)
    await multipart.abort(upload)
    return reply({"aborted": upload.upload_id})


async def _upload(request: Request) -> tuple[Multipart, Upload]:
    """The multipart service and the upload the request addresses (bucket, ``?key=``, upload id)."""
    multipart: Multipart = (await authorized(request)).state.multipart
    bucket, upload_id = request.path_params["bucket"], request.path_params["upload"]
    return multipart, await multipart.upload(bucket, object_key(request), upload_id)


def object_key(request: Request) -> str:
    key = query_text(request, "key")
    addressing.validate_key(key)
    return key


def _content_type(request: Request, key: str) -> str:
    sent = request.headers.get("content-type", "")
    return guess_content_type(key) if sent in ("", "application/octet-stream") else sent
