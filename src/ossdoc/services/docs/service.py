"""The document service: requests wait in one bounded queue in front of the model, JSON and SSE
alike, and each generation streams cleaned, cumulative text.

Admission is decided before a reply starts, so a full queue is an ordinary ``503 SlowDown``: a
request takes a place when it is admitted (``start``) and gives it back when its generation is
closed. Of the admitted requests ``slots`` generate at once (one: a local model has one context),
the others wait, at most ``queue_size`` of them; a long document takes a slot piece by piece."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, replace

from ossdoc import errors
from ossdoc.backends.llm.base import Chunk, LLMBackend, Message, Sampling
from ossdoc.backends.llm.errors import LLMError
from ossdoc.config import Settings
from ossdoc.observability import metrics
from ossdoc.services.docs import chunking, params
from ossdoc.services.docs.admission import Admission, LocalAdmission
from ossdoc.services.docs.cache import Cache, ResultCache, cache_key
from ossdoc.services.docs.cleaning import Cleaner
from ossdoc.services.docs.counting import TokenCounter
from ossdoc.services.docs.generation import Generation, Progress, Resume, Ticket, replay
from ossdoc.services.docs.language import StartCheck, steer
from ossdoc.services.docs.metrics import COUNTERS
from ossdoc.services.docs.operations import OPERATIONS
from ossdoc.services.docs.quotas import Quotas, account
from ossdoc.services.docs.registry import Args, DocRequest, Limits, Operation, Registry
from ossdoc.services.docs.repetition import LoopGuard
from ossdoc.services.docs.sentences import sentence_ends

log = logging.getLogger("ossdoc.docs")
# Runs of line breaks; collapsing them to one keeps a growing text a prefix of its next state.
_BLANK_LINES = re.compile(r"\n{2,}")
MIN_OUTPUT_TOKENS = 64
MESSAGE_OVERHEAD = 8  # tokens a chat template adds around each message
MAX_RESTARTS = 1  # restarts of a generation that started in the wrong language
ASKED_SLACK = 2  # a part's reply budget: this many times the length its prompt asks for
SECTIONS = 8  # a long summary is the summaries of at most this many pieces, in order


@dataclass(frozen=True)
class Job:
    operation: Operation
    content: str
    messages: list[Message]
    sampling: Sampling
    language: str  # the language the result must be written in
    # A part of a long document's summary ends at the first sentence end after this many output
    # tokens (the length its prompt asks for); None: it ends when the model ends it.
    ends_after: int | None = None


class DocumentService:
    def __init__(
        self,
        backend: LLMBackend,
        settings: Settings,
        operations: Registry = OPERATIONS,
        slots: int = 1,
        cache: Cache | None = None,
        admission: Admission | None = None,
        quotas: Quotas | None = None,
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
        self.cache: Cache = cache if cache is not None else ResultCache(settings.cache_bytes)
        self.counter = TokenCounter(backend)
        self.quotas = quotas

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
        self,
        operation: Operation,
        content: str,
        args: Args,
        resume: Resume | None = None,
        *,
        streamed: bool = True,
    ) -> Generation:
        """Plan the generation(s), check they fit the model's context, take a place in the queue.

        A document too long for one prompt is processed in pieces (``operation.long``): piece by
        piece, map-reduce (summaries of pieces, then a summary of those) or only its tail.
        ``resume``: continue an earlier generation of the same request from where it stopped (the
        model goes on from the text it had written), when the plan allows it. ``streamed``: the
        steps are shown as they come (an event stream); otherwise only the result is (a JSON reply,
        a task), and a translation that turns out mostly in the wrong language is restarted once."""
        info = self.backend.info
        model = f"{info.name}@{info.extra.get('version', '')}"
        key = cache_key(operation.name, dict(args.values), content, model)
        cached = self.cache.get(key)
        metrics.get().cache.labels("miss" if cached is None else "hit").inc()
        if cached is not None:
            log.info("%s answered from the result cache", operation.name)
            return Generation(replay(cached), Ticket(None))
        context = self.backend.info.context_size
        # Counted at once: each count is a round trip to the backend, before the first event. A text
        # that may well be one piece has its prompt counted now too (``_job`` finds it remembered).
        ahead = [content.strip()] if len(content) <= 4 * context else []
        counted, overhead, *_ = await asyncio.gather(
            self._count_text(content),
            self._count(operation.prompt("", args)),
            *(self._count(operation.prompt(text, args)) for text in ahead),
            *(self._count_text(text) for text in ahead),
        )
        content_tokens = max(1, counted)
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
        plan = Plan(operation, args, pieces, piece_tokens, chars_per_token, key, streamed)
        if resume is not None and not (plan.resumable and resume.piece < len(pieces)):
            resume = None
        ticket = self._admit(operation)
        if len(pieces) > 1:
            log.info("%s: %d tokens in %d pieces", operation.name, content_tokens, len(pieces))
        generation = metrics.observed(self._run(plan, ticket, resume), operation.name)
        return Generation(generation, ticket, resumed=resume is not None)

    async def _job(self, operation: Operation, content: str, args: Args) -> Job:
        messages = operation.prompt(content, args)
        prompt_tokens, content_tokens = await asyncio.gather(self._count(messages), self._count_text(content))
        room = self.backend.info.context_size - prompt_tokens
        if room < MIN_OUTPUT_TOKENS:
            raise errors.InvalidArgument(
                f"The text is too long for the model: its prompt takes {prompt_tokens} tokens of a "
                f"{self.backend.info.context_size}-token context.",
                ArgumentName="content",
            )
        budget = min(self.max_output_tokens, room)
        ends_after = None
        if operation.output_ratio is not None:
            least = max(MIN_OUTPUT_TOKENS, int(content_tokens * operation.output_ratio))
            if operation.asked_share is not None:
                asked = content_tokens * operation.asked_share(content, args)
                # A result ends with the sentence that reaches the length its prompt asks for: the
                # 0.5B asked for 40 to 75 words of a news article copied it on for hundreds of
                # tokens, up to the cut (a single article's summary too: 6 of the 13 public ones).
                ends_after = math.ceil(asked)
                if args.whole:
                    # A part of a long document is asked for its share of the whole's result: the
                    # summaries a reduce step takes are asked for about their own length, more
                    # than output_ratio of them, which would cut the reply. (A piece's budget is
                    # not lowered to its share: the real model overshot twice its ask, and was cut.)
                    least = max(least, math.ceil(asked * ASKED_SLACK))
            budget = min(budget, least)
        language = operation.language(content, args)
        sampling = replace(operation.sampling, max_tokens=budget)
        if language in operation.latin_penalty:
            sampling = replace(sampling, latin_penalty=operation.latin_penalty[language])
        if language in operation.cjk_penalty:
            sampling = replace(sampling, cjk_penalty=operation.cjk_penalty[language])
        return Job(operation, content, messages, sampling, language, ends_after)

    @property
    def admitted(self) -> int:
        """Requests holding a place in the queue (generating or waiting), machine-wide."""
        return self.admission.taken()

    def _admit(self, operation: Operation) -> Ticket:
        taken = self.admission.admit(self.slots + self.queue_size)
        if taken is None:
            waiting = self.admission.taken() - self.slots
            log.warning("%s refused: %d waiting, queue size %d", operation.name, waiting, self.queue_size)
            err = errors.SlowDown("Too many document processing requests are waiting; retry later.")
            err.headers["Retry-After"] = str(self._retry_after(waiting))
            raise err
        metrics.get().queue_depth.inc()
        log.info("%s admitted: %d in the queue (%d slot(s))", operation.name, taken, self.slots)
        return Ticket(self.admission)

    def _retry_after(self, waiting: int) -> int:
        return max(1, min(300, math.ceil(self._seconds * (waiting + 1) / self.slots)))

    async def _count_text(self, text: str) -> int:
        return await self._count([Message("user", text)]) - 2 * MESSAGE_OVERHEAD

    async def _count(self, messages: list[Message]) -> int:
        try:
            counts = await asyncio.gather(*(self.counter.count(m.content) for m in messages))
        except LLMError as exc:
            log.error("counting tokens failed: %s", exc)
            raise errors.ServiceUnavailable(f"The model backend is unavailable: {exc}") from exc
        except Exception as exc:
            log.exception("counting tokens failed")
            raise errors.InternalError("The model backend failed.") from exc
        return sum(counts) + MESSAGE_OVERHEAD * (len(messages) + 1)

    async def _run(self, plan: Plan, ticket: Ticket, resume: Resume | None) -> AsyncGenerator[Progress, None]:
        name = plan.operation.name
        tokens, done = (0, 0), False
        # A continued generation's counts go on from the earlier one's, charged already.
        before = (
            (0, 0)
            if resume is None
            else (resume.used[0] + resume.tokens[0], resume.used[1] + resume.tokens[1])
        )
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
            else:
                COUNTERS.truncated += 1
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
            self._charge(tokens[0] - before[0] + tokens[1] - before[1])

    def _charge(self, tokens: int) -> None:
        key_id = account.get()
        if self.quotas is not None and key_id is not None:
            self.quotas.charge(key_id, tokens)

    async def _pieces(self, plan: Plan, resume: Resume | None) -> AsyncGenerator[Progress, None]:
        """Cumulative progress over every piece: one text, one Result at the end."""
        pieces, used = plan.pieces, (0, 0, 0)
        args = [plan.args] * len(pieces)
        separators = [chunking.separator(piece) for piece in pieces]
        if plan.operation.long == "map-reduce" and len(pieces) > 1:
            pieces, args, used = await self._reduce(plan)
            separators = ["\n\n"] * len(pieces)
        prefix, reason, first = "", "stop", 0
        if resume is not None:
            prefix, used, first = resume.prefix, (*resume.used, 0), resume.piece
        texts = [(piece.strip(), a) for piece, a in zip(pieces, args, strict=True)][first:]
        parallel = plan.operation.long == "map-reduce"
        each = self._each(plan.operation, texts, parallel, resume, streamed=plan.streamed)
        async with aclosing(each) as generations:
            number = first
            async for job, steps in generations:
                number += 1
                last = number == len(pieces)
                # One paragraph of many comes back as one: a blank line inside it would split it in two.
                one = len(pieces) > 1 and plan.operation.long == "pieces" and "\n\n" not in job.content
                async for step in steps:
                    text = prefix + (_BLANK_LINES.sub("\n", step.text) if one else step.text)
                    total = _plus(used, step)
                    if step.finish_reason is None:
                        here = None
                        if plan.resumable and step.resume is not None:
                            here = replace(step.resume, piece=number - 1, prefix=prefix, used=used[:2])
                        yield Progress(text, None, *total[:2], restarts=total[2], resume=here)
                        continue
                    reason = "length" if step.finish_reason == "length" else reason
                    if last:
                        yield Progress(text, reason, *total[:2], chunks=len(plan.pieces), restarts=total[2])
                    else:
                        prefix, used = text + separators[number - 1], total
                        yield Progress(prefix.rstrip(), None, *total[:2], restarts=total[2])

    async def _each(
        self,
        operation: Operation,
        texts: list[tuple[str, Args]],
        parallel: bool = True,
        prefill: Resume | None = None,
        *,
        streamed: bool = False,
    ) -> AsyncGenerator[tuple[Job, AsyncIterator[Progress]], None]:
        """The generation of each text, in order, the first continuing ``prefill``. One slot (or
        not ``parallel``, or a resumed plan): each streams in turn. More slots (a model server that
        batches): all run at once, each handed on whole."""
        if self.slots == 1 or not parallel or prefill is not None:
            for content, args in texts:
                job = await self._job(operation, content, args)
                async with aclosing(self._generate(job, prefill, streamed=streamed)) as steps:
                    yield job, steps
                prefill = None
            return
        ready = [await self._job(operation, content, args) for content, args in texts]
        tasks = [asyncio.ensure_future(self._final(job)) for job in ready]
        try:
            for job, task in zip(ready, tasks, strict=True):
                yield job, replay(await task)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _final(self, job: Job) -> Progress:
        final = None
        async with aclosing(self._generate(job)) as steps:
            async for final in steps:  # noqa: B007 - only the last step matters
                pass
        assert final is not None
        return final

    async def _reduce(self, plan: Plan) -> tuple[list[str], list[Args], tuple[int, int, int]]:
        """The texts that make a long document's summary, each with its arguments.

        Up to SECTIONS pieces, summaries of the pieces, in order, each its share of the length one
        summary of the whole would have (no second pass over them: it would write the summary
        twice). Beyond, the map step runs silently (the SSE layer keeps the connection alive with
        pings) and the summaries are summarized again, the reply budget sized from them, re-split
        while they are still too long."""
        pieces, used, whole = plan.pieces, (0, 0, 0), sum(len(piece) for piece in plan.pieces)
        while len(pieces) > SECTIONS:
            texts = [(piece.strip(), plan.args) for piece in pieces]
            summaries = []
            async with aclosing(self._each(plan.operation, texts)) as generations:
                async for _, steps in generations:
                    final = None
                    async for final in steps:  # noqa: B007 - only the last step matters
                        pass
                    assert final is not None
                    summaries.append(final.text)
                    used = _plus(used, final)
            joined = "\n\n".join(summaries)
            split = chunking.split(joined, max(1, int(plan.piece_tokens * plan.chars_per_token)))
            pieces = split if len(split) < len(summaries) else split[:1]  # never loop forever
        total = sum(len(piece) for piece in pieces)
        args = [replace(plan.args, whole=whole, share=len(piece) / total) for piece in pieces]
        return pieces, args, used

    async def _generate(
        self, job: Job, prefill: Resume | None = None, *, streamed: bool = False
    ) -> AsyncGenerator[Progress, None]:
        """One generation: cleaned cumulative text, then a final step with the finish reason.
        ``prefill``: continue an earlier generation of this job from the raw text it had written
        (the counts go on from its tokens).

        The language guard: nothing is handed out until the first words show the result's language;
        a wrong start (the source's language, the other script, the source echoed) is dropped and
        the generation restarted once with a prompt insisting on the language, before any byte of
        it reaches the client. A generation whose steps are not ``streamed`` is judged whole as
        well: a translation mostly in the source's language past its first words ("Les Stars ont
        atoned for Friday's Elite League loss…") is restarted the same way. A stream cannot take
        back what it showed, so its result is not (it keeps the check of its first words)."""
        check, name = StartCheck(job.language, job.content), job.operation.name
        loops = LoopGuard(job.content)
        messages, sampling, before, spent, restarts = job.messages, job.sampling, (0, 0), (0, 0), 0
        prefilled, checked, ended = "", None, None
        if prefill is not None and prefill.raw:
            prefilled, before, checked = prefill.raw, prefill.tokens, True  # its start went out already
            messages = [*messages, Message("assistant", prefill.raw)]
            sampling = replace(sampling, max_tokens=max(1, sampling.max_tokens - before[1]))
        # The model is taken piece by piece, not for a whole document: a long document (an
        # asynchronous task's, say) lets the requests queued behind it through between its pieces.
        async with self._slot:
            started = time.monotonic()
            try:
                while True:
                    may_restart = restarts < MAX_RESTARTS and checked is None
                    cleaner = Cleaner(job.content, job.operation.labels)
                    raw, reason, right = prefilled, "stop", checked
                    tokens = (spent[0] + before[0], spent[1] + before[1])
                    sent = cleaner.feed(raw) if raw else ""
                    held = False  # whether the last step held a repeated tail back
                    shown = len(raw)  # the raw text behind ``sent``
                    chunks = self.backend.generate(messages, sampling)
                    try:
                        async for chunk in chunks:
                            raw += chunk.text
                            tokens = (
                                spent[0] + (before[0] or chunk.input_tokens),
                                spent[1] + before[1] + chunk.output_tokens,
                            )
                            if chunk.finish_reason is not None:
                                # Not a break: the backend's stream ends by itself after its last
                                # chunk (closing it early would count as a cancellation).
                                reason = chunk.finish_reason
                                continue
                            # A repeated tail is held back; a loop stops the generation, cut
                            # after the repeated unit (or, streamed, what went out already).
                            release = loops.release(raw)
                            loop = loops.loop(raw) if release < len(raw) else None
                            if loop is not None:
                                log.info("%s: a loop of %d characters, stopped", name, loop.end - loop.start)
                                raw, reason = raw[: max(loop.kept, shown if streamed else 0)], "length"
                                break
                            text = cleaner.feed(raw[:release])
                            # Not while a repeated tail is held back: the tokens counted are the
                            # raw text's, so the sentence that reaches them is not out yet; once
                            # out, a sentence end the text held back already is not the one.
                            if right is not None and job.ends_after is not None and release == len(raw):
                                produced = tokens[1] - spent[1]  # a resumed one's prefill included
                                ended = _ended(text, sent, produced, job.ends_after, after_hold=held)
                                if ended is not None:
                                    break  # closing the stream stops the model (see below)
                            held = release < len(raw)
                            if right is None:
                                body = cleaner.body(raw)
                                right = None if body is None else check.verdict(body)
                                if right is None or (right is False and may_restart):
                                    if right is False:
                                        break
                                    continue
                            if text != sent and text.startswith(sent):
                                sent, shown = text, release
                                resume = Resume(raw=raw[:release], tokens=tokens)
                                yield Progress(text, None, *tokens, restarts=restarts, resume=resume)
                    finally:
                        # Closing the backend's stream is what stops the model (LLMBackend.generate).
                        await _close(chunks)
                    if ended is not None:
                        text, reason = ended, "stop"
                        break
                    text = cleaner.finish(raw)
                    if right is None and may_restart and check.verdict(text, final=True) is False:
                        right = False
                    if right and may_restart and not streamed and not check.whole(text):
                        log.info("%s: mostly in the wrong language, restarting: %r", name, text[:80])
                        right = False
                    elif right is False and may_restart:
                        log.info("%s: wrong language at the start, restarting: %r", name, raw[:60])
                    if right is not False or not may_restart:
                        break
                    COUNTERS.language_restarts += 1
                    spent, restarts = tokens, restarts + 1
                    messages = job.operation.insist(job.messages, job.language)
                    sampling = steer(sampling, job.language)
            finally:
                self._seconds = 0.7 * self._seconds + 0.3 * (time.monotonic() - started)
        if not text.startswith(sent):
            log.warning("%s: final text does not extend the streamed text", job.operation.name)
        yield Progress(text, reason, *tokens, restarts=restarts)


@dataclass(frozen=True)
class Plan:
    operation: Operation
    args: Args
    pieces: list[str]
    piece_tokens: int
    chars_per_token: float
    cache_key: str
    streamed: bool = True

    @property
    def resumable(self) -> bool:
        """A long summary's map phase is not journalled: only its single pieces can be continued."""
        return self.operation.long != "map-reduce" or len(self.pieces) == 1


def _ended(text: str, sent: str, produced: int, ends_after: int, *, after_hold: bool = False) -> str | None:
    """``text`` up to its first sentence end that is new since ``sent`` (the text handed out), once
    ``produced`` output tokens reach ``ends_after``; None: not yet. ``after_hold``: ``text`` grew
    past text held back meanwhile, so the end of ``sent`` itself came before the length was
    reached, and does not count."""
    if produced < ends_after:
        return None
    first = len(sent.rstrip()) + after_hold
    for end in sentence_ends(text, max(0, len(sent.rstrip()) - 2)):
        if end >= first:
            cut = text[:end]
            return sent if sent.startswith(cut) else cut  # what was handed out stays handed out
    return None


def _plus(used: tuple[int, int, int], step: Progress) -> tuple[int, int, int]:
    """Input tokens, output tokens and restarts so far, with those of ``step``."""
    return used[0] + step.input_tokens, used[1] + step.output_tokens, used[2] + step.restarts


async def _close(chunks: AsyncIterator[Chunk]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
