"""``POST /<key>?x-oss-process``: intelligent document processing (doc/translate, doc/summarize...).

As in OSS, the text comes in the ``content`` parameter and the object key is only a placeholder (the
object need not exist, the bucket must). Beyond OSS, a request without ``content`` processes the
stored object itself. The reply is one JSON document, or server-sent events with
``format_event-stream``; ``|sys/saveas`` stores the result as an object."""

from __future__ import annotations

import gzip
from functools import partial

from starlette.responses import Response

from ossdoc import errors
from ossdoc.backends.state.streams import Journal
from ossdoc.services.docs import DocumentService, Progress, params, pipeline
from ossdoc.services.docs.params import SaveAs
from ossdoc.services.docs.quotas import Limits, Quotas, account
from ossdoc.services.docs.source import stored_text
from ossdoc.services.naming import check_bucket_name
from ossdoc.wire import addressing, resume, sse
from ossdoc.wire.cancellation import with_cancellation
from ossdoc.wire.context import Context
from ossdoc.wire.routes.common import check_md5, content_md5
from ossdoc.wire.routing import Router

router = Router()
JSON_TYPE = "application/json;charset=UTF-8"
ANONYMOUS = "anonymous"  # the quota account of unsigned requests (a public bucket's)


@router.route("POST", "object", "x-oss-process")
async def process_object(ctx: Context) -> Response:
    docs = service(ctx)
    bucket, key = ctx.require_bucket(), ctx.require_key()
    await ctx.state.store.bucket(bucket)
    expected_md5 = content_md5(ctx)
    body = await ctx.body(docs.body_limit)
    check_md5(expected_md5, body)
    request = docs.parse(body)
    if request.save_as is not None:
        check_save_as(request.save_as)
    limit = ctx.state.settings.max_document_bytes
    if not request.stream:
        count_request(ctx)
        work = pipeline.run(docs, ctx.state.store, request, bucket, key, limit)
        outcome = await with_cancellation(ctx.request.receive, work)
        if outcome.saved is not None:
            return _saved_reply(ctx, outcome.saved, outcome.result)
        return _json_reply(ctx, outcome.result)
    content = request.content
    if content is None:
        # Beyond the cloud service: without content, the object in the path is the document.
        content = await stored_text(ctx.state.store, bucket, key, limit)
    start = partial(docs.start, request.operation, content, request.args)
    journal: Journal = ctx.state.streams
    stream = resume.stream_key(ctx.principal or "", bucket, key, params.form_value(body))
    after = resume.last_event_id(ctx.headers.get("last-event-id"))
    record = journal.get(stream) if after is not None else None
    # A resumed stream is the same request again: counted once, its tokens still charged.
    count_request(ctx, new=record is None)
    # Admission (or 503 SlowDown) happens here, before any reply is started.
    if after is not None and record is not None:
        how, events = await resume.resumed_stream(journal, record, after, start, ctx.request_id)
        return sse.EventStreamResponse(events, headers={resume.HEADER: how})
    events = await resume.new_stream(journal, stream, start, ctx.request_id)
    return sse.EventStreamResponse(events, headers={resume.HEADER: "fresh"} if after is not None else None)


def count_request(ctx: Context, new: bool = True) -> str:
    """Count a document request against its access key's quota (``503 SlowDown`` when it is spent),
    and charge the generations it runs to that key; the key."""
    key_id = ctx.principal or ANONYMOUS
    quotas: Quotas | None = ctx.state.quotas
    if quotas is not None and new:
        settings = ctx.state.settings
        quotas.admit(key_id, Limits(*ctx.state.keys.quota(key_id, settings.quota_rpm, settings.quota_tpm)))
    account.set(key_id)
    return key_id


def check_save_as(save_as: SaveAs) -> None:
    if save_as.bucket is not None:
        check_bucket_name(save_as.bucket)
    addressing.validate_key(save_as.key)


def _saved_reply(ctx: Context, saved: pipeline.Saved, result: Progress) -> Response:
    """OSS's answer for a saved result (the fields oss2's ProcessObjectResult reads), plus the text
    and usage."""
    reply = {"bucket": saved.bucket, "fileSize": saved.size, "object": saved.key, "status": "OK"}
    reply.update(sse.payload(result, ctx.request_id, id_key="RequestID"))
    headers = {"Content-Type": JSON_TYPE, "x-oss-server-time": str(ctx.elapsed_ms())}
    return Response(sse.dumps(reply).encode(), headers=headers)


@router.route("GET", "object", "x-oss-process")
@router.route("HEAD", "object", "x-oss-process")
@router.route("PUT", "object", "x-oss-process")
@router.route("DELETE", "object", "x-oss-process")
async def process_with_other_method(ctx: Context) -> Response:
    # In OSS a GET with x-oss-process is image/video processing, which ossdoc does not implement.
    if ctx.query.get("x-oss-process", "").startswith("doc/"):
        raise errors.MethodNotAllowed("Document processing requests must use POST.")
    raise errors.NotImplementedError_("ossdoc implements only document processing (doc/*, by POST).")


def service(ctx: Context) -> DocumentService:
    docs: DocumentService | None = ctx.state.docs
    if docs is None:
        raise errors.ServiceUnavailable("Document processing is not available: no model is loaded.")
    return docs


def _json_reply(ctx: Context, result: Progress) -> Response:
    body = sse.dumps(sse.payload(result, ctx.request_id, id_key="RequestID")).encode()
    headers = {"Content-Type": JSON_TYPE, "Vary": "Accept-Encoding"}
    if accepts_gzip(ctx.headers.get("accept-encoding", "")):
        body = gzip.compress(body, compresslevel=6)
        headers["Content-Encoding"] = "gzip"
    headers["x-oss-server-time"] = str(ctx.elapsed_ms())
    return Response(body, headers=headers)


def accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        coding, *options = (part.strip().lower() for part in item.split(";"))
        if coding == "gzip":
            return not any(o.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for o in options)
    return False
