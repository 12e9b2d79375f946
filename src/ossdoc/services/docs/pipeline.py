"""A document request carried to its end without a stream: the text (``content`` or the stored
object), the operation, and with ``|sys/saveas`` the result stored as an object. The JSON reply and
asynchronous tasks both run it; only the event stream bypasses it to show progress.

A ``.docx`` saveas target of a stored ``.docx`` document gets a Word document back with every
paragraph rewritten in place (doc/translate, polish, rephrase and enrich)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from ossdoc import errors
from ossdoc.backends.storage.base import ObjectMeta
from ossdoc.services.docs import office
from ossdoc.services.docs.docx_output import rewrite_docx
from ossdoc.services.docs.generation import Progress
from ossdoc.services.docs.params import SaveAs
from ossdoc.services.docs.registry import DocRequest
from ossdoc.services.docs.service import DocumentService
from ossdoc.services.docs.source import stored_document, stored_text
from ossdoc.services.objects import ObjectStore

TEXT_TYPE = "text/plain;charset=utf-8"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class Saved:
    bucket: str
    key: str
    size: int


@dataclass(frozen=True)
class Outcome:
    result: Progress  # the final step; its text is empty when the result is a .docx
    saved: Saved | None = None


def docx_output(save_as: SaveAs | None) -> bool:
    return save_as is not None and save_as.key.lower().endswith(".docx")


def check_docx_output(request: DocRequest) -> None:
    """What a .docx result needs, checked before any work."""
    if request.content is not None:
        raise errors.InvalidArgument(
            "A .docx result rewrites a stored .docx document: leave out content.", ArgumentName="sys/saveas"
        )
    if request.operation.long != "pieces":
        raise errors.InvalidArgument(
            f"{request.operation.name} cannot rewrite a .docx paragraph by paragraph; "
            "save its result under a key that does not end in .docx.",
            ArgumentName="sys/saveas",
        )


async def run(
    docs: DocumentService,
    store: ObjectStore,
    request: DocRequest,
    bucket: str,
    key: str,
    limit: int,
    watch: Callable[[Progress], None] | None = None,
) -> Outcome:
    """Process ``request`` on the object ``bucket``/``key`` (the document when there is no content,
    of at most ``limit`` bytes) and store the result where saveas says. ``watch`` sees the text
    grow (not a .docx result's)."""
    save_as = request.save_as
    if save_as is not None and docx_output(save_as):
        return await _run_docx(docs, store, request, save_as, bucket, key, limit)
    content = request.content
    if content is None:
        content = await stored_text(store, bucket, key, limit)
    generation = await docs.start(request.operation, content, request.args, streamed=False)
    result = await generation.result(watch)
    if save_as is None:
        return Outcome(result)
    data = result.text.encode()
    saved = await save(store, save_as, bucket, data, TEXT_TYPE)
    return Outcome(result, saved)


async def _run_docx(
    docs: DocumentService,
    store: ObjectStore,
    request: DocRequest,
    save_as: SaveAs,
    bucket: str,
    key: str,
    limit: int,
) -> Outcome:
    check_docx_output(request)
    document = await stored_document(store, bucket, key, limit)
    if document.kind != office.DOCX:
        raise errors.InvalidArgument(
            f"A .docx result rewrites a .docx document; the object {key} is {document.kind}.",
            ArgumentName="sys/saveas",
        )
    data, stats = await rewrite_docx(docs, request.operation, request.args, document.data)
    saved = await save(store, save_as, bucket, data, DOCX_TYPE)
    reason = "length" if stats.truncated else "stop"
    result = Progress("", reason, stats.input_tokens, stats.output_tokens, stats.requests)
    return Outcome(result, saved)


async def save(store: ObjectStore, save_as: SaveAs, bucket: str, data: bytes, content_type: str) -> Saved:
    target = save_as.bucket or bucket
    await store.put(target, save_as.key, _once(data), ObjectMeta(content_type=content_type))
    return Saved(target, save_as.key, len(data))


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
