"""The document service: requests wait in one bounded queue in front of the model, JSON and SSE
alike, and each generation streams cleaned, cumulative text.

Admission is decided before a reply starts, so a full queue is an ordinary ``503 SlowDown``: a
request takes a place when it is admitted (``start``) and gives it back when its generation is
closed. Of the admitted requests ``slots`` generate at once (one: a local model has one context),
the others wait, at most ``queue_size`` of them; a long document takes a slot piece by piece."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace

from ossdoc import errors
from ossdoc.backends.llm.base import Chunk, LLMBackend, Message, Sampling
from ossdoc.backends.llm.errors import LLMError
from ossdoc.config import Settings
from ossdoc.services.docs import chunking, params
from ossdoc.services.docs.admission import Admission, LocalAdmission
from ossdoc.services.docs.cache import ResultCache, cache_key
from ossdoc.services.docs.cleaning import Cleaner
from ossdoc.services.docs.operations import OPERATIONS
from ossdoc.services.docs.registry import Args, DocRequest, Limits, Operation, Registry

log = logging.getLogger("ossdoc.docs")
# Runs of line breaks; collapsing them to one keeps a growing text a prefix of its next state.
_BLANK_LINES = re.compile(r"\n{2,}")
MIN_OUTPUT_TOKENS = 64
MESSAGE_OVERHEAD = 8  # tokens a chat template adds around each message


@dataclass(frozen=True)
class Resume:
    """Where a generation has come, to continue it later (a resumed event stream): in piece
    ``piece`` of its plan, after the finished pieces' text ``prefix`` and tokens ``used``, with
    ``raw`` generated in that piece for ``tokens``."""

    piece: int = 0
    prefix: str = ""
    raw: str = ""
    used: tuple[int, int] = (0, 0)
    tokens: tuple[int, int] = (0, 0)

    def dumps(self) -> str:
        return json.dumps([self.piece, self.prefix, self.raw, self.used, self.tokens], ensure_ascii=False)

    @classmethod
    def loads(cls, text: str) -> Resume | None:
        try:
            piece, prefix, raw, used, tokens = json.loads(text)
            return cls(
                int(piece),
                str(prefix),
                str(raw),
                (int(used[0]), int(used[1])),
                (int(tokens[0]), int(tokens[1])),
            )
        except (ValueError, TypeError, IndexError):
            return None


@dataclass(frozen=True)
class Progress:
    text: str  # everything generated so far, cleaned; each Progress extends the previous one
    finish_reason: str | None  # None while generating, then "stop" or "length"
    input_tokens: int
    output_tokens: int
    chunks: int = 1  # pieces a long document was processed in
    # How to continue from here (None where it cannot be: the map phase of a long summary).
    resume: Resume | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Job:
    operation: Operation
    content: str
    messages: list[Message]
    sampling: Sampling


class _Ticket:
    """A place in the queue, given back exactly once."""

    def __init__(self, service: DocumentService | None) -> None:
        self._service = service  # None: a result that took no place (from the cache)

    def release(self) -> None:
        if self._service is not None:
            self._service.admission.release()
            self._service = None


class Generation:
    """An admitted request: iterate it for Progress; ``aclose()`` cancels the generation (closing the
    backend's stream) and frees its place, also when it was never iterated."""

    def __init__(
        self, steps: AsyncGenerator[Progress, None], ticket: _Ticket, *, resumed: bool = False
    ) -> None:
        self._steps = steps
        self._ticket = ticket
        self.resumed = resumed  # it continues an earlier generation (a Resume was followed)

    def __aiter__(self) -> AsyncIterator[Progress]:
        return self

    async def __anext__(self) -> Progress:
        return await self._steps.__anext__()

    async def aclose(self) -> None:
        try:
            await self._steps.aclose()
        finally:
            self._ticket.release()

    async def result(self, watch: Callable[[Progress], None] | None = None) -> Progress:
        """Run to the end (closing, also when interrupted) and return the last step; ``watch`` sees
        every step."""
        last: Progress | None = None
        try:
            async for progress in self:
                last = progress
                if watch is not None:
                    watch(progress)
        finally:
            await self.aclose()
        assert last is not None and last.finish_reason is not None
        return last


class DocumentService:
    def __init__(
        self,
        backend: LLMBackend,
        settings: Settings,
        operations: Registry = OPERATIONS,
        slots: int = 1,
        cache: ResultCache | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.backend = backend
        self.operations = operations
        self.limits = Limits(settings.max_content_bytes, 4 * settings.max_content_bytes)
        self.max_output_tokens = settings.max_output_tokens
        self.queue_size = settings.queue_size
        self.slots = slots
        self._slot = asyncio.Semaphore(slots)
        self.admission: Admission = admission if admission is not None else LocalAdmission()
        self._seconds = 5.0  # moving average of a generation's time on the model, for Retry-After
        self.cache = cache if cache is not None else ResultCache(settings.cache_bytes)

    @property
    def body_limit(self) -> int:
        """Largest request body worth reading: Base64 content and history, even fully
        percent-encoded, and the other parameters."""
        return 3 * (4 * (self.limits.content_bytes + self.limits.history_bytes) // 3) + 4096

    def parse(self, body: bytes, field: str = params.FIELD) -> DocRequest:
        """The request in a form body's ``field``."""
        return self.parse_process(params.form_value(body, field))

    def parse_process(self, process: str) -> DocRequest:
        return self.operations.resolve(params.split(process), self.limits)

    async def start(
        self, operation: Operation, content: str, args: Args, resume: Resume | None = None
    ) -> Generation:
        """Plan the generation(s), check they fit the model's context, take a place in the queue.

        A document too long for one prompt is processed in pieces (``operation.long``): piece by
        piece, map-reduce (summaries of pieces, then a summary of those) or only its tail.
        ``resume``: continue an earlier generation of the same request from where it stopped (the
        model goes on from the text it had written), when the plan allows it."""
        info = self.backend.info
        model = f"{info.name}@{info.extra.get('version', '')}"
        key = cache_key(operation.name, dict(args.values), content, model)
        cached = self.cache.get(key)
        if cached is not None:
            log.info("%s answered from the result cache", operation.name)
            return Generation(_replay(cached), _Ticket(None))
        context = self.backend.info.context_size
        content_tokens = max(1, await self._count_text(content))
        overhead = await self._count(operation.prompt("", args))
        if overhead + MIN_OUTPUT_TOKENS * 2 > context:
            raise errors.InvalidArgument(
                f"The prompt alone takes {overhead} tokens of a {context}-token context.",
                ArgumentName="content",
            )
        # Room for the piece and for its output: a rewrite is about as long as its input.
        growth = 0.5 if operation.long == "map-reduce" else 1.5
        piece_tokens = int((context - overhead - MIN_OUTPUT_TOKENS) / (1 + growth))
        if operation.long == "pieces":  # the output must fit the reply budget too, not only the context
            piece_tokens = min(piece_tokens, int(self.max_output_tokens / growth))
        chars_per_token = len(content) / content_tokens
        if content_tokens <= piece_tokens:
            pieces = [content]
        elif operation.long == "tail":
            pieces = [chunking.tail(content, int(piece_tokens * chars_per_token))]
        else:
            # A rewrite goes paragraph by paragraph, so every paragraph comes back in its place.
            alone = operation.long == "pieces"
            pieces = chunking.split(
                content, max(1, int(piece_tokens * chars_per_token)), paragraphs_alone=alone
            )
        plan = Plan(operation, args, pieces, piece_tokens, chars_per_token, key)
        if resume is not None and not (plan.resumable and resume.piece < len(pieces)):
            resume = None
        ticket = self._admit(operation)
        if len(pieces) > 1:
            log.info("%s: %d tokens in %d pieces", operation.name, content_tokens, len(pieces))
        return Generation(self._run(plan, ticket, resume), ticket, resumed=resume is not None)

    async def _job(self, operation: Operation, content: str, args: Args) -> Job:
        messages = operation.prompt(content, args)
        prompt_tokens = await self._count(messages)
        room = self.backend.info.context_size - prompt_tokens
        if room < MIN_OUTPUT_TOKENS:
            raise errors.InvalidArgument(
                f"The text is too long for the model: its prompt takes {prompt_tokens} tokens of a "
                f"{self.backend.info.context_size}-token context.",
                ArgumentName="content",
            )
        budget = min(self.max_output_tokens, room)
        if operation.output_ratio is not None:
            content_tokens = await self._count_text(content)
            budget = min(budget, max(MIN_OUTPUT_TOKENS, int(content_tokens * operation.output_ratio)))
        return Job(operation, content, messages, replace(operation.sampling, max_tokens=budget))

    @property
    def admitted(self) -> int:
        """Requests holding a place in the queue (generating or waiting), machine-wide."""
        return self.admission.taken()

    def _admit(self, operation: Operation) -> _Ticket:
        taken = self.admission.admit(self.slots + self.queue_size)
        if taken is None:
            waiting = self.admission.taken() - self.slots
            log.warning("%s refused: %d waiting, queue size %d", operation.name, waiting, self.queue_size)
            err = errors.SlowDown("Too many document processing requests are waiting; retry later.")
            err.headers["Retry-After"] = str(self._retry_after(waiting))
            raise err
        log.info("%s admitted: %d in the queue (%d slot(s))", operation.name, taken, self.slots)
        return _Ticket(self)

    def _retry_after(self, waiting: int) -> int:
        return max(1, min(300, math.ceil(self._seconds * (waiting + 1) / self.slots)))

    async def _count_text(self, text: str) -> int:
        return await self._count([Message("user", text)]) - 2 * MESSAGE_OVERHEAD

    async def _count(self, messages: list[Message]) -> int:
        try:
            counts = [await self.backend.count_tokens(m.content) for m in messages]
        except LLMError as exc:
            log.error("counting tokens failed: %s", exc)
            raise errors.ServiceUnavailable(f"The model backend is unavailable: {exc}") from exc
        except Exception as exc:
            log.exception("counting tokens failed")
            raise errors.InternalError("The model backend failed.") from exc
        return sum(counts) + MESSAGE_OVERHEAD * (len(messages) + 1)

    async def _run(
        self, plan: Plan, ticket: _Ticket, resume: Resume | None
    ) -> AsyncGenerator[Progress, None]:
        name = plan.operation.name
        tokens, done = (0, 0), False
        try:
            final: Progress | None = None
            # aclosing: closing this generation must close the inner ones at once, down to
            # the backend's stream, not whenever they are garbage-collected.
            async with aclosing(self._pieces(plan, resume)) as steps:
                async for progress in steps:
                    tokens = (progress.input_tokens, progress.output_tokens)
                    if progress.finish_reason is None:
                        yield progress
                    else:
                        final = progress
            # The place is free again before the last step is handed out.
            ticket.release()
            assert final is not None
            log.info("%s done: %d+%d tokens, %s", name, *tokens, final.finish_reason)
            if final.finish_reason == "stop":
                self.cache.put(plan.cache_key, final)
            done = True
            yield final
        except (GeneratorExit, asyncio.CancelledError):
            if not done:
                log.info("%s cancelled after %d output tokens", name, tokens[1])
            raise
        except errors.OSSError:
            raise
        except LLMError as exc:
            log.error("%s: the model backend failed: %s", name, exc)
            raise errors.ServiceUnavailable(f"The model backend is unavailable: {exc}") from exc
        except Exception as exc:
            log.exception("%s failed in the model backend", name)
            raise errors.InternalError("Document processing failed in the model backend.") from exc
        finally:
            ticket.release()

    async def _pieces(self, plan: Plan, resume: Resume | None) -> AsyncGenerator[Progress, None]:
        """Cumulative progress over every piece: one text, one Result at the end."""
        pieces, used = plan.pieces, (0, 0)
        if plan.operation.long == "map-reduce" and len(pieces) > 1:
            pieces, used = await self._reduce(plan)
        prefix, reason, first = "", "stop", 0
        if resume is not None:
            prefix, used, first = resume.prefix, resume.used, resume.piece
        for number, piece in enumerate(pieces[first:], first + 1):
            last = number == len(pieces)
            job = await self._job(plan.operation, piece.strip(), plan.args)
            # One paragraph of many comes back as one: a blank line inside it would split it in two.
            one = len(pieces) > 1 and plan.operation.long == "pieces" and "\n\n" not in job.content
            prefill = resume if resume is not None and number == first + 1 else None
            async with aclosing(self._generate(job, prefill)) as steps:
                async for step in steps:
                    text = prefix + (_BLANK_LINES.sub("\n", step.text) if one else step.text)
                    total = (used[0] + step.input_tokens, used[1] + step.output_tokens)
                    if step.finish_reason is None:
                        here = None
                        if plan.resumable and step.resume is not None:
                            here = replace(step.resume, piece=number - 1, prefix=prefix, used=used)
                        yield Progress(text, None, *total, resume=here)
                        continue
                    reason = "length" if step.finish_reason == "length" else reason
                    if last:
                        yield Progress(text, reason, *total, chunks=len(plan.pieces))
                    else:
                        prefix, used = text + chunking.separator(piece), total
                        yield Progress(prefix.rstrip(), None, *total)

    async def _reduce(self, plan: Plan) -> tuple[list[str], tuple[int, int]]:
        """Map: summarize every piece, silently (the SSE layer keeps the connection alive with
        pings). Returns the text to summarize last, re-split while it is still too long."""
        pieces, used = plan.pieces, (0, 0)
        while len(pieces) > 1:
            summaries = []
            for piece in pieces:
                final = None
                job = await self._job(plan.operation, piece.strip(), plan.args)
                async with aclosing(self._generate(job)) as steps:
                    async for step in steps:
                        final = step
                assert final is not None
                summaries.append(final.text)
                used = (used[0] + final.input_tokens, used[1] + final.output_tokens)
            joined = "\n\n".join(summaries)
            pieces = chunking.split(joined, max(1, int(plan.piece_tokens * plan.chars_per_token)))
            if len(pieces) >= len(summaries):  # not shrinking: keep what fits, never loop forever
                pieces = pieces[:1]
        return pieces, used

    async def _generate(self, job: Job, prefill: Resume | None = None) -> AsyncGenerator[Progress, None]:
        """One generation: cleaned cumulative text, then a final step with the finish reason.
        ``prefill``: continue an earlier generation of this job from the raw text it had written
        (the counts go on from its tokens)."""
        cleaner = Cleaner(job.content, job.operation.labels)
        raw, sent, reason, tokens = "", "", "stop", (0, 0)
        messages, sampling, before = job.messages, job.sampling, (0, 0)
        if prefill is not None and prefill.raw:
            raw, before, sent = prefill.raw, prefill.tokens, cleaner.feed(prefill.raw)
            messages = [*messages, Message("assistant", prefill.raw)]
            sampling = replace(sampling, max_tokens=max(1, sampling.max_tokens - before[1]))
        # The model is taken piece by piece, not for a whole document: a long document (an
        # asynchronous task's, say) lets the requests queued behind it through between its pieces.
        async with self._slot:
            started = time.monotonic()
            chunks = self.backend.generate(messages, sampling)
            try:
                async for chunk in chunks:
                    raw += chunk.text
                    tokens = (before[0] or chunk.input_tokens, before[1] + chunk.output_tokens)
                    if chunk.finish_reason is not None:
                        # Not a break: the backend's stream ends by itself after its last chunk
                        # (closing it early would count as a cancellation).
                        reason = chunk.finish_reason
                        continue
                    text = cleaner.feed(raw)
                    if text != sent and text.startswith(sent):
                        sent = text
                        yield Progress(text, None, *tokens, resume=Resume(raw=raw, tokens=tokens))
            finally:
                # Closing the backend's stream is what stops the model (LLMBackend.generate).
                await _close(chunks)
                self._seconds = 0.7 * self._seconds + 0.3 * (time.monotonic() - started)
        text = cleaner.finish(raw)
        if not text.startswith(sent):
            log.warning("%s: final text does not extend the streamed text", job.operation.name)
        yield Progress(text, reason, *tokens)


@dataclass(frozen=True)
class Plan:
    operation: Operation
    args: Args
    pieces: list[str]
    piece_tokens: int
    chars_per_token: float
    cache_key: str

    @property
    def resumable(self) -> bool:
        """A long summary's map phase is not journalled: only its single pieces can be continued."""
        return self.operation.long != "map-reduce" or len(self.pieces) == 1


async def _replay(result: Progress) -> AsyncGenerator[Progress, None]:
    yield result


async def _close(chunks: AsyncIterator[Chunk]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
