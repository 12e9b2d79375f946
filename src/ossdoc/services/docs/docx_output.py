"""A .docx rewritten in place: each paragraph's text replaced by the operation's output (``doc/translate``
into a Word file), the document's structure, styles, tables, pictures and fields left as they are.

Paragraphs are read from every story, as ``docx_segments`` reads them, and cut into segments at what
must stay where it is (fields, inline pictures, hyperlinks, page breaks). A segment's new text goes into
its first run that holds text, with that run's formatting, and its other runs lose their text.

Consecutive segments travel in one request, separated by blank lines. An answer that does not split
back into as many parts, or whose parts are out of proportion to their sources (a model that moved a
sentence across a break), is redone one segment per request: the output never shifts text into the
wrong paragraph."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ossdoc import errors
from ossdoc.services.docs import docx_segments
from ossdoc.services.docs.docx_segments import Segment
from ossdoc.services.docs.generation import Generation
from ossdoc.services.docs.registry import Args, Operation
from ossdoc.services.docs.service import MIN_OUTPUT_TOKENS, DocumentService

log = logging.getLogger("ossdoc.docs")

SEPARATOR = "\n\n"
_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_LETTER = re.compile(r"[^\W\d_]")
# A batch is a share of one piece of ``DocumentService.start``, counting a token per character (the
# worst case, CJK text), so start never cuts it; and few segments, for a small model to keep count.
PROMPT_ALLOWANCE = 400  # tokens of an operation's instructions around the text (~100 in practice)
BATCH_SHARE = 0.5
MAX_BATCH = 12
MEASURABLE = 20  # characters: below, a length ratio says little ("Yes" → "Oui")
OUT_OF_PROPORTION = 3.0  # a part this many times longer or shorter than its batch's typical ratio
RETRY_SECONDS = 0.5


@dataclass
class Paragraph:
    element: Any  # w:p
    segments: list[Segment]

    @property
    def text(self) -> str:
        return "".join(segment.text for segment in self.segments)


@dataclass
class DocxText:
    """A .docx opened for rewriting: its paragraphs that hold text, in reading order."""

    document: Any
    paragraphs: list[Paragraph]

    def save(self) -> bytes:
        out = io.BytesIO()
        self.document.save(out)
        return out.getvalue()


def read_docx(data: bytes) -> DocxText:
    """Open a .docx; ``InvalidArgument`` if it is not one or cannot be read."""
    try:
        import docx

        document = docx.Document(io.BytesIO(data))
        paragraphs = []
        for story in docx_segments.stories(document, unshown=True):
            for element in docx_segments.paragraphs(story, fallback=True):
                segments = docx_segments.segments(element)
                if any(segment.text.strip() for segment in segments):
                    paragraphs.append(Paragraph(element, segments))
    except Exception as exc:  # python-docx, zipfile and lxml each raise their own for a broken file
        raise errors.InvalidArgument(
            "The source is not a readable .docx document (corrupt, truncated or another format?)."
        ) from exc
    return DocxText(document, paragraphs)


@dataclass
class RewriteStats:
    paragraphs: int = 0  # paragraphs holding text
    segments: int = 0  # distinct texts rewritten (a text repeated in the document is rewritten once)
    kept: int = 0  # distinct texts kept as they are: no letters, or an empty answer
    requests: int = 0  # generations started, the per-segment retries of a failed batch included
    fallbacks: int = 0  # batches redone one segment at a time
    truncated: int = 0  # answers cut at the output limit
    input_tokens: int = 0
    output_tokens: int = 0


async def rewrite_docx(
    service: DocumentService, operation: Operation, args: Args, data: bytes
) -> tuple[bytes, RewriteStats]:
    """The .docx ``data`` with every paragraph's text rewritten by ``operation``, and what it took.

    Raises ``InvalidArgument`` for a file that is not a readable .docx, and the service's errors
    (``SlowDown`` when the queue is full at the first request, ``ServiceUnavailable``...). Cancelling
    the calling task closes the running generation."""
    text = await asyncio.to_thread(read_docx, data)
    segments = [segment for paragraph in text.paragraphs for segment in paragraph.segments]
    sources = list(dict.fromkeys(s.text.strip() for s in segments if s.text.strip()))
    rewriter = _Rewriter(service, operation, args)
    rewriter.stats.paragraphs = len(text.paragraphs)
    outputs = await rewriter.rewrite(sources)

    def write() -> bytes:
        for segment in segments:
            output = outputs.get(segment.text.strip())
            if output is not None:
                segment.write(output)
        return text.save()

    return await asyncio.to_thread(write), rewriter.stats


@dataclass
class _Rewriter:
    service: DocumentService
    operation: Operation
    args: Args
    stats: RewriteStats = field(default_factory=RewriteStats)

    async def rewrite(self, sources: list[str]) -> dict[str, str]:
        """New text of each source that has letters; the others keep theirs."""
        outputs: dict[str, str] = {}
        todo = [s for s in sources if _LETTER.search(s)]
        self.stats.kept += len(sources) - len(todo)
        for batch in _batches(todo, batch_chars(self.service)):
            parts = await self._batch(batch) if len(batch) > 1 else None
            if parts is None:
                parts = [await self._one(source) for source in batch]
            for source, part in zip(batch, parts, strict=True):
                if part:
                    outputs[source] = part
                    self.stats.segments += 1
                else:
                    self.stats.kept += 1
        return outputs

    async def _batch(self, batch: list[str]) -> list[str] | None:
        """The batch's outputs, or None when its answer does not line up with it."""
        output, reason = await self._generate(SEPARATOR.join(batch))
        parts = [part.strip() for part in _BLANK_LINE.split(output.strip())]
        if reason == "stop" and len(parts) == len(batch) and _proportionate(batch, parts):
            return parts
        name = self.operation.name
        log.info("%s: %d segments came back as %d parts, redone one by one", name, len(batch), len(parts))
        self.stats.fallbacks += 1
        return None

    async def _one(self, source: str) -> str:
        output, reason = await self._generate(source)
        if reason == "length":
            self.stats.truncated += 1
        return output.strip()

    async def _generate(self, content: str) -> tuple[str, str | None]:
        generation = await self._start(content)
        self.stats.requests += 1
        final = await generation.result()
        self.stats.input_tokens += final.input_tokens
        self.stats.output_tokens += final.output_tokens
        return _NOT_XML.sub("", final.text.replace("\r\n", "\n")), final.finish_reason

    async def _start(self, content: str) -> Generation:
        # Each request takes its own place in the service's queue. A full queue refuses the first one
        # (an ordinary 503 before any work); later ones wait for a place rather than lose the work done.
        while True:
            try:
                return await self.service.start(self.operation, content, self.args, streamed=False)
            except errors.SlowDown:
                if self.stats.requests == 0:
                    raise
                await asyncio.sleep(RETRY_SECONDS)


def batch_chars(service: DocumentService) -> int:
    """Most characters sent in one request (a single longer paragraph goes alone)."""
    # As DocumentService.start sizes a "pieces" piece: room for the text and its ~1.5x output.
    room = service.backend.info.context_size - PROMPT_ALLOWANCE - MIN_OUTPUT_TOKENS
    piece = min(room / 2.5, service.max_output_tokens / 1.5)
    return max(1, int(piece * BATCH_SHARE))


def _batches(sources: list[str], max_chars: int) -> Iterable[list[str]]:
    """Consecutive sources up to ``max_chars``; a source with a blank line of its own goes alone."""
    batch: list[str] = []
    size = 0
    for source in sources:
        alone = _BLANK_LINE.search(source) is not None
        if batch and (alone or size + len(source) > max_chars or len(batch) == MAX_BATCH):
            yield batch
            batch, size = [], 0
        batch.append(source)
        size += len(source) + len(SEPARATOR)
        if alone:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _proportionate(sources: list[str], parts: list[str]) -> bool:
    """Whether every part is about as long, relative to its source, as the others (short ones aside)."""
    pairs = zip(sources, parts, strict=True)
    ratios = [len(part) / len(source) for source, part in pairs if len(source) >= MEASURABLE]
    if len(ratios) < 2:
        return True
    typical = statistics.median(ratios)
    return all(typical / OUT_OF_PROPORTION <= ratio <= typical * OUT_OF_PROPORTION for ratio in ratios)
