"""``/-/api/buckets/<b>/preview?key=``: the text of an object, as the page shows it.

A document (docx, pptx, xlsx, pdf, html) shows the text that document processing would read from
it; a text object its beginning, even when it is too large to be processed whole. The page puts the
text in the DOM as text, never as markup."""

from __future__ import annotations

import asyncio
import codecs

from starlette.requests import Request
from starlette.responses import Response

from ossdoc.console.common import reply
from ossdoc.console.guard import authorized
from ossdoc.console.storage import object_key
from ossdoc.services.docs.source import StoredDocument, decode, detect, stored_document, text_of

PREVIEW_CHARS = 64 * 1024
HEAD_BYTES = 256 * 1024  # what is read of a large text object


async def preview(request: Request) -> Response:
    caller = await authorized(request)
    store = caller.state.store
    bucket, key = request.path_params["bucket"], object_key(request)
    record = await store.head(bucket, key)
    limit = caller.state.settings.max_document_bytes
    if record.size > limit:
        head = b"".join([chunk async for chunk in store.read(record, 0, min(record.size, HEAD_BYTES))])
        kind = detect(record.meta.content_type, key, head)
        if kind == "text":
            text = head_text(head, key)
            return _reply(kind, text, truncated=True)
        # Anything else cannot be read from its beginning alone: the usual clear error says so.
    document: StoredDocument = await stored_document(store, bucket, key, limit)
    text = await asyncio.to_thread(text_of, document)
    return _reply(document.kind, text, truncated=False)


def _reply(kind: str, text: str, *, truncated: bool) -> Response:
    shown = text[:PREVIEW_CHARS]
    return reply({"kind": kind, "text": shown, "truncated": truncated or len(shown) < len(text)})


def head_text(data: bytes, key: str) -> str:
    """The text of an object's first bytes, without the character they may cut at their end."""
    encoding = "utf-8"
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            encoding = name
            break
    if encoding == "utf-8" and b"\x00" in data[:4096]:
        return decode(data, key)  # the clear error for binary data
    try:
        return codecs.getincrementaldecoder(encoding)().decode(data, final=False)
    except UnicodeDecodeError:
        return decode(data, key)  # the clear error for what is not UTF-8
