"""The console's document operations: the same requests as ``POST /<key>?x-oss-process``, given as
JSON and answered by the document service, as server-sent events (the same frames as OSS's) or as
one JSON reply, optionally saved as an object (``sys/saveas``, or a rewritten .docx).

A request names its operation, its parameters, and either pasted ``content`` or a stored object
(``bucket`` and ``key``). It is turned into the process string that the services parse, so the
console's requests are checked by exactly the rules of the OSS API's."""

from __future__ import annotations

import base64
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ossdoc import errors
from ossdoc.console.common import read_json, reply, text_field
from ossdoc.console.guard import authorized
from ossdoc.services.docs import DocRequest, DocumentService, pipeline
from ossdoc.services.docs.language import TARGETS
from ossdoc.services.docs.operations import TONES
from ossdoc.services.docs.source import stored_text
from ossdoc.wire import addressing, sse
from ossdoc.wire.cancellation import with_cancellation
from ossdoc.wire.routes.process import check_save_as
from ossdoc.wire.state import AppState

CHOICE_LABELS = {"language": TARGETS, "tone": {tone: tone.capitalize() for tone in TONES}}


async def operations(request: Request) -> Response:
    """What the page needs to draw the form: operations, their parameters, the size limits."""
    caller = await authorized(request)
    docs = service(caller.state)
    listed = []
    for op in docs.operations.operations.values():
        parameters = [
            {
                "name": p.name,
                "kind": p.kind,
                "required": p.required,
                "choices": [
                    {"value": c, "label": CHOICE_LABELS.get(p.name, {}).get(c, c)} for c in p.choices
                ],
            }
            for p in op.parameters
        ]
        # A .docx comes back rewritten in place only from an operation that goes paragraph by paragraph.
        listed.append({"name": op.name, "parameters": parameters, "docx": op.long == "pieces"})
    limits = {
        "contentBytes": docs.limits.content_bytes,
        "documentBytes": caller.state.settings.max_document_bytes,
    }
    return reply({"operations": listed, "limits": limits})


async def process(request: Request) -> Response:
    caller = await authorized(request)
    state, docs = caller.state, service(caller.state)
    body = await read_json(request)
    mode = text_field(body, "mode", required=False) or "json"
    if mode not in ("json", "stream"):
        raise errors.InvalidArgument("mode must be json or stream.", ArgumentName="mode")
    stream = mode == "stream"
    parsed = parse(docs, body, stream=stream)
    bucket, key = source(body, parsed)
    store, limit = state.store, state.settings.max_document_bytes
    if parsed.save_as is not None:
        check_save_as(parsed.save_as)
        if not bucket and parsed.save_as.bucket is None:
            raise errors.InvalidArgument("Choose the bucket to save the result in.", ArgumentName="saveAs")
        if pipeline.docx_output(parsed.save_as):
            pipeline.check_docx_output(parsed)
    if stream:
        content = parsed.content
        if content is None:
            content = await stored_text(store, bucket, key, limit)
        # Admission (or 503 SlowDown) happens here, before the stream starts.
        generation = await docs.start(parsed.operation, content, parsed.args)
        return sse.EventStreamResponse(sse.EventStream(generation, caller.request_id))
    work = pipeline.run(docs, store, parsed, bucket, key, limit)
    outcome = await with_cancellation(request.receive, work)
    result = outcome.result
    answer: dict[str, Any] = {
        "text": result.text,
        "finishReason": result.finish_reason,
        "usage": {"inputTokens": result.input_tokens, "outputTokens": result.output_tokens},
        "chunks": result.chunks,
    }
    if outcome.saved is not None:
        saved = outcome.saved
        answer["saved"] = {"bucket": saved.bucket, "key": saved.key, "size": saved.size}
    return reply(answer)


def service(state: AppState) -> DocumentService:
    docs: DocumentService | None = state.docs
    if docs is None:
        raise errors.ServiceUnavailable("Document processing is not available: no model is loaded.")
    return docs


def parse(docs: DocumentService, body: dict[str, Any], *, stream: bool) -> DocRequest:
    """The request in ``body``, checked by the services' own parser."""
    return docs.parse_process(process_string(docs, body, stream=stream))


def process_string(docs: DocumentService, body: dict[str, Any], *, stream: bool) -> str:
    """``doc/<op>,<name>_<value>,...[|sys/saveas,o_<key>[,b_<bucket>]]`` for ``body``."""
    name = text_field(body, "operation").strip()
    name = name if name.startswith("doc/") else f"doc/{name}"
    if name not in docs.operations.operations:
        raise errors.InvalidArgument(
            f"Unknown operation {name}; ossdoc supports {', '.join(docs.operations.names())}.",
            ArgumentName="operation",
        )
    kinds = {p.name: p.kind for p in docs.operations[name].parameters}
    segments = [name]
    content = text_field(body, "content", required=False)
    if content:
        segments.append(f"content_{_b64(content)}")
    given = body.get("params") or {}
    if not isinstance(given, dict):
        raise errors.InvalidArgument("params must be an object.", ArgumentName="params")
    for param, value in given.items():
        if value in (None, "", []):
            continue
        if kinds.get(param) == "history":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise errors.InvalidArgument(f"{param} must be a list of texts.", ArgumentName=param)
            segments.append(f"{param}_{_b64(json.dumps([{'content': v} for v in value]))}")
        elif kinds.get(param) == "text" and isinstance(value, str):
            segments.append(f"{param}_{_b64(value)}")
        elif isinstance(value, str) and value and not set(value) & set(",|"):
            segments.append(f"{param}_{value}")
        else:
            # Unknown names are left to the parser, which names them; malformed values stop here.
            raise errors.InvalidArgument(f"{param} has an invalid value.", ArgumentName=param)
    if stream:
        segments.append("format_event-stream")
    process = ",".join(segments)
    save_as = body.get("saveAs")
    if save_as:
        if not isinstance(save_as, dict):
            raise errors.InvalidArgument("saveAs must be an object with a key.", ArgumentName="saveAs")
        process += f"|sys/saveas,o_{_b64(text_field(save_as, 'key'))}"
        target = text_field(save_as, "bucket", required=False)
        if target:
            process += f",b_{_b64(target)}"
    return process


def source(body: dict[str, Any], request: DocRequest) -> tuple[str, str]:
    """The bucket and object key the request addresses: the document when there is no pasted
    content ("" when absent)."""
    bucket = text_field(body, "bucket", required=False)
    key = text_field(body, "key", required=False)
    if request.content is None:
        if not bucket or not key:
            raise errors.InvalidArgument(
                "Give the text to process (content), or the object that holds it (bucket and key).",
                ArgumentName="content",
            )
        addressing.validate_key(key)
    return bucket, key


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
