"""The embedded backend: a GGUF model run in-process by llama.cpp (llama-cpp-python).

A generation runs in a worker thread on llama-cpp-python's token-level API (``Llama.eval``, the
llama.cpp sampler chain ``Llama.generate`` builds), not ``create_chat_completion``: that way usage is
exact at every token, the prompt is evaluated in steps that can be interrupted, and pieces longer
than 32 bytes are not lost (``Llama.detokenize`` drops them: runs of spaces in code, for one). Tokens
reach the event loop through ``call_soon_threadsafe``.

Decoding is speculative (see speculative.py): each step evaluates the last token and up to
``draft_tokens`` guesses taken from the prompt in one batch, and samples every position as plain
decoding would (same sampler chain, one draw per token). The draft length follows the acceptance
rate and what a step of each batch size costs, measured on the model when it loads (step_costs.py),
and falls to 0 (plain decoding) where guesses do not pay.

Greedy decoding (temperature 0) gives the same bytes with and without drafts, from any cache state.
llama.cpp's CPU kernels compute a row of a batch differently by batch size: a batch of one token, and
rows past the first of a batch of 4 or more (the repacked Q4_K weights' 4-row GEMM), give logits up
to 0.3 away from batches of 2 and 3, which agree with each other at every row (measured on
qwen2.5-coder-0.5b; on SmolLM2's Q4_1 every batch of 2 or more agrees). A difference that small
flips near-ties, and once one token differs the texts part. So under greedy every decode step is a
batch of 2 or 3 tokens: the last token and one or two drafts, or the last token and a pad whose
logits are not computed. The prompt, for its part, is evaluated in chunks at fixed positions
(multiples of ``_PREFILL_STEP``), and the KV cache is reused only up to a chunk boundary of an
earlier greedy prompt: the same prompt is then computed the same way whatever was cached before it.
(Sampled requests reuse any common prefix.) Under
sampling, drafts go up to ``draft_tokens`` and a plain step is one token (the fastest kernel); the
text is plain decoding's but for such near-ties.

The worker is one thread for the model's lifetime: llama.cpp's OpenMP keeps a team of spinning
helper threads for each thread that computes, and a second team halves the speed (measured on 2
cores: 112 → 57 tok/s). Closing the stream sets a flag the worker checks between tokens and
between prompt steps; the model lock (llama.cpp's context serves one generation at a time) is
released only once the worker is done. A cancel thus waits for one step at most: one token's work
in plain decoding, one verification batch (a few tokens computed together) in speculative."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import ctypes
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ossdoc.backends.llm.base import Chunk, Message, ModelInfo, Sampling
from ossdoc.backends.llm.errors import LLMError
from ossdoc.backends.llm.speculative import DraftLength, PromptLookup
from ossdoc.backends.llm.step_costs import measure

log = logging.getLogger("ossdoc.llm")
_DONE = object()
# The prompt is evaluated in chunks of this many tokens at fixed positions, so a cancel waits for one
# chunk at most (about 0.5 s for the 0.5B model on 2 idle cores); a chunk is one pass over the weights
# (~5% more than 512-token batches).
_PREFILL_STEP = 64
_DRAFT_MOST = 8  # drafted tokens verified in one step at most
_GREEDY_MOST = 2  # under greedy: batches of 2 or 3 tokens, the sizes whose rows agree (see above)
_LATIN_WORD = re.compile(r" ?[A-Za-z][A-Za-z'-]*")  # what Sampling.latin_penalty weighs down
# What Sampling.cjk_penalty weighs down: any token holding a Han, kana or Hangul character.
_CJK = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
# Which tokens each script penalty weighs down, by the text of the token.
_SCRIPTS: dict[str, Callable[[str], object]] = {"latin": _LATIN_WORD.fullmatch, "cjk": _CJK.search}


class LocalLlama:
    def __init__(
        self, model_path: Path, *, name: str, context_size: int, threads: int, draft_tokens: int = _DRAFT_MOST
    ) -> None:
        """Loads the model: slow (seconds), so construct it off the event loop. ``draft_tokens``: the
        most drafted tokens verified in one step (0: plain decoding)."""
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._llama_cpp: Any = llama_cpp
        try:
            # chat_format unset: the prompt is built from the GGUF's own chat template below.
            self.llm: Any = llama_cpp.Llama(
                model_path=str(model_path),
                n_ctx=context_size,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise LLMError(f"cannot load the model {model_path}: {exc}") from exc
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise LLMError(f"{model_path} has no chat template")
        model = self.llm._model
        eos, bos = self.llm.token_eos(), self.llm.token_bos()
        self.formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
        self._vocab = model.vocab
        self._pieces: dict[int, bytes] = {}
        stat = model_path.stat()
        # Tells results of this file from those of another one later put at the same path.
        version = f"{stat.st_size}-{stat.st_mtime_ns}"
        extra = {"path": str(model_path), "threads": str(threads), "version": version}
        self._info = ModelInfo(name, context_size, extra)
        self._lock = asyncio.Lock()
        self._closed = False
        self._chunked = 0  # the KV cache up to here holds whole prefill chunks: reusable as such
        self.exact_greedy = True  # greedy steps of 2 or 3 tokens (False: one-token steps, to compare)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ossdoc-llama")
        self.worker: Future[None] | None = None  # the current or last generation's work
        self.tokens_after_cancel = 0  # tokens computed after a cancel request (≤ one step's each)
        self.draft_tokens = max(0, draft_tokens)
        self.drafted = self.accepted = 0  # drafted tokens verified, and those the model agreed with
        self._scripts: dict[str, list[int]] = {}  # see _script_tokens
        self._biases: dict[tuple[float, float], tuple[int, Any]] = {}  # see _bias
        # costs[k]: a step verifying k drafts, in one-token steps; measured on the worker's thread.
        self.step_costs: tuple[float, ...] = (1.0,)
        self._costs_for = 0  # the draft length measured for (sizes past the time budget left out)
        self._thread.submit(self._calibrate, self.draft_tokens).result()

    @property
    def info(self) -> ModelInfo:
        return self._info

    async def count_tokens(self, text: str) -> int:
        # Tokenizing reads only the vocabulary: safe beside a running generation.
        tokens = await asyncio.to_thread(self.llm.tokenize, text.encode(), False, False)
        return len(tokens)

    def prompt_tokens(self, messages: list[Message]) -> list[int]:
        """The chat template's prompt; a trailing assistant message is a prefill the reply continues."""
        prefill = messages[-1].content if messages and messages[-1].role == "assistant" else None
        if prefill is not None:
            messages = messages[:-1]
        chat: Any = [{"role": m.role, "content": m.content} for m in messages]
        formatted = self.formatter(messages=chat)
        tokens: list[int] = self.llm.tokenize(
            formatted.prompt.encode(), add_bos=not formatted.added_special, special=True
        )
        if prefill:
            tokens += self.llm.tokenize(prefill.encode(), add_bos=False, special=False)
        return tokens

    async def generate(self, messages: list[Message], sampling: Sampling) -> AsyncIterator[Chunk]:
        if self._closed:
            raise LLMError("the model is closed")
        prompt = await asyncio.to_thread(self.prompt_tokens, messages)
        room = self._info.context_size - len(prompt)
        if room < 1:
            raise LLMError(
                f"prompt of {len(prompt)} tokens does not fit the {self._info.context_size}-token context"
            )
        async with self._lock:
            loop = asyncio.get_running_loop()
            # Unbounded on purpose: the worker never waits for a slow reader while it holds the
            # model, and max_tokens bounds what can pile up.
            queue: asyncio.Queue[object] = asyncio.Queue()
            cancel = threading.Event()

            def post(item: object) -> None:
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens any more
                    loop.call_soon_threadsafe(queue.put_nowait, item)

            job = (prompt, min(sampling.max_tokens, room), sampling, cancel, post)
            self.worker = self._thread.submit(self._work, *job)
            finished = False
            try:
                while True:
                    item = await queue.get()
                    if isinstance(item, Chunk):
                        yield item
                    elif isinstance(item, BaseException):
                        raise LLMError(f"generation failed: {item!r}") from item
                    else:
                        finished = True
                        break
            finally:
                if not finished:
                    cancel.set()
                    await _until_done(queue)

    def _work(
        self,
        prompt: list[int],
        max_tokens: int,
        sampling: Sampling,
        cancel: threading.Event,
        post: Callable[[object], None],
    ) -> None:
        try:
            self._run(prompt, max_tokens, sampling, cancel, post)
        except BaseException as exc:  # raised on the loop's side as an LLMError
            post(exc)
        finally:
            post(_DONE)

    def _run(
        self,
        prompt: list[int],
        max_tokens: int,
        sampling: Sampling,
        cancel: threading.Event,
        post: Callable[[object], None],
    ) -> None:
        self._calibrate(self.draft_tokens)  # measured at load, unless draft_tokens grew since
        if not self._prefill(prompt, cancel, exact=self.exact_greedy and sampling.temperature <= 0):
            log.info("generation cancelled: 0 token computed after the cancel, in the prompt")
            return
        llm, lib = self.llm, self._llama_cpp
        llm.set_seed(lib.LLAMA_DEFAULT_SEED if sampling.seed is None else sampling.seed)
        sampler = self._sampler(sampling)
        try:
            self._decode(prompt, max_tokens, sampling, sampler, cancel, post)
        finally:
            sampler.close()

    def _sampler(self, sampling: Sampling) -> Any:
        """The chain Llama.generate would build (penalties, top-k 40, top-p, min-p 0.05, temperature,
        a seeded draw; or greedy), fed only the tokens sampled, one draw per token produced; with
        ``latin_penalty`` or ``cjk_penalty``, a logit bias against the tokens spelt in Latin letters
        or holding CJK characters before it."""
        llm, lib = self.llm, self._llama_cpp
        bias = self._bias(sampling)
        if bias is None:
            return llm._init_sampler(
                temp=sampling.temperature, top_p=sampling.top_p, repeat_penalty=sampling.repeat_penalty
            )
        # _init_sampler takes no logit bias, so its chain is built here, after the bias.
        chain = lib._internals.LlamaSampler()
        lib.llama_sampler_chain_add(chain.sampler, lib.llama_sampler_init_logit_bias(llm.n_vocab(), *bias))
        chain.add_penalties(llm.n_vocab(), llm.last_n_tokens_size, sampling.repeat_penalty, 0.0, 0.0)
        if sampling.temperature == 0:
            chain.add_greedy()
        else:
            chain.add_top_k(40)
            chain.add_typical(1.0, 1)
            chain.add_top_p(sampling.top_p, 1)
            chain.add_min_p(0.05, 1)
            chain.add_temp(sampling.temperature)
            chain.add_dist(llm._seed)
        return chain

    def _bias(self, sampling: Sampling) -> tuple[int, Any] | None:
        """The script penalties of ``sampling`` as llama.cpp's logit-bias array (its length, the
        array), built once per pair of penalties: filled from Python, an array of the 69,000 Latin
        tokens took tens of milliseconds, before every generation's first token. llama.cpp copies
        it into each sampler it makes."""
        key = (sampling.latin_penalty, sampling.cjk_penalty)
        if key == (0.0, 0.0):
            return None
        found = self._biases.get(key)
        if found is None:
            bias: dict[int, float] = {}
            if sampling.latin_penalty > 0:
                bias.update(dict.fromkeys(self._latin_tokens(), -sampling.latin_penalty))
            if sampling.cjk_penalty > 0:
                bias.update(dict.fromkeys(self._cjk_tokens(), -sampling.cjk_penalty))
            array = (self._llama_cpp.llama_logit_bias * len(bias))(*bias.items())
            found = self._biases[key] = (len(bias), array)
        return found

    def _latin_tokens(self) -> list[int]:
        """The tokens that are a word or a piece of one in Latin letters (an optional leading space
        included); found once per model, about a second for a 150,000-token vocabulary."""
        return self._script_tokens("latin")

    def _cjk_tokens(self) -> list[int]:
        """The tokens holding a Han, kana or Hangul character (whole characters: a token that is
        only a byte of one is not text, and is left alone); found once per model."""
        return self._script_tokens("cjk")

    def _script_tokens(self, script: str) -> list[int]:
        if script not in self._scripts:
            matches = _SCRIPTS[script]
            found = []
            for token in range(self.llm.n_vocab()):
                try:
                    text = self._token_bytes(token).decode("utf-8")  # not cached: 150,000 of them
                except UnicodeDecodeError:
                    continue
                if matches(text):
                    found.append(token)
            self._scripts[script] = found
        return self._scripts[script]

    def _decode(
        self,
        prompt: list[int],
        max_tokens: int,
        sampling: Sampling,
        sampler: Any,
        cancel: threading.Event,
        post: Callable[[object], None],
    ) -> None:
        """Plain decoding evaluates the last token and samples the next one; speculative decoding
        evaluates the last token and k drafted ones in one batch, samples every position in order
        exactly as plain decoding would (same logits, same sampler, one draw per token), and keeps
        the drafts up to the first one that differs from the token sampled in its place."""
        lib, ctx = self._llama_cpp, self.llm._ctx
        text = StopText(sampling.stop)
        drafts = PromptLookup(prompt)
        exact = self.exact_greedy and sampling.temperature <= 0
        if exact:  # a guess replaces the pad (same batch size): at least 1 whenever there is one
            length = DraftLength(min(self.draft_tokens, _GREEDY_MOST), self.step_costs, least=1)
        else:
            length = DraftLength(self.draft_tokens, self.step_costs)
        produced = [sampler.sample(ctx, -1)]  # the prompt's logits are the last prefill step's
        count = 0
        while True:
            reason: str | None = None
            for token in produced[:max_tokens]:  # (a budget of 0 tokens shows none)
                if lib.llama_vocab_is_eog(self._vocab, token):
                    reason = "stop"
                    break
                count += 1
                delta, stopped = text.add(self._piece(token))
                post(Chunk(delta, len(prompt), count))
                if stopped:
                    reason = "stop"
                    break
            if reason is None and count >= max_tokens:
                reason = "length"
            if reason is not None:
                break
            if cancel.is_set():
                log.info("generation cancelled: 0 token computed after the cancel, %d before", count)
                return
            drafts.extend(produced)
            guess = drafts.draft(length.most)
            k = min(length.choose(len(guess)), max_tokens - count - 1)
            produced = self._verify([produced[-1], *guess[:k]], sampler, pad=exact and k == 0)
            length.scored(guess, produced)
            self.drafted += k
            self.accepted += len(produced) - 1
            if cancel.is_set():
                self.tokens_after_cancel += len(produced)  # computed, then dropped
                log.info(
                    "generation cancelled: %d token computed after the cancel (a step of %d), %d before",
                    len(produced),
                    k + 1,
                    count,
                )
                return
        post(Chunk(text.flush(), len(prompt), count, reason))

    def _verify(self, batch: list[int], sampler: Any, *, pad: bool = False) -> list[int]:
        """Evaluate ``batch`` (the last token, then drafts) with logits at every position; the tokens
        sampled, up to and including the first that differs from the draft in its place. ``pad``: a
        lone token is evaluated with a copy of itself after it (no logits), as a batch of 2."""
        llm = self.llm
        start = llm.n_tokens
        llm._ctx.kv_cache_seq_rm(-1, start, -1)
        llm._batch.set_batch(batch=batch + batch[-1:] if pad else batch, n_past=start, logits_all=True)
        if pad:
            llm._batch.batch.logits[1] = False
        llm._ctx.decode(llm._batch)
        llm.input_ids[start : start + len(batch)] = batch
        produced: list[int] = []
        for i in range(len(batch)):
            produced.append(sampler.sample(llm._ctx, i))
            if i + 1 == len(batch) or produced[-1] != batch[i + 1]:
                break
        # The cache keeps the last token and the drafts accepted; the rest is dropped by the next
        # evaluation (``kv_cache_seq_rm`` above, or Llama.eval's).
        llm.n_tokens = start + len(produced)
        return produced

    def _calibrate(self, most: int) -> None:
        """Measure the step costs up to verifying ``most`` drafts, unless that is known already. At
        load the cache is empty; later, room is made at its end if the context is nearly full."""
        llm = self.llm
        most = min(most, llm.n_ctx() - 1)
        if most <= self._costs_for:
            return
        llm.n_tokens = min(llm.n_tokens, llm.n_ctx() - most - 1)
        self.step_costs, self._costs_for = measure(llm, most), most

    def _prefill(self, prompt: list[int], cancel: threading.Event, exact: bool) -> bool:
        """Evaluate the prompt in chunks that a cancel can interrupt, reusing the KV cache's prefix
        in common with the previous request; the last chunk leaves the logits the first token is
        sampled from. False if cancelled.

        ``exact`` (greedy): chunks at fixed positions, and the cache reused only up to a boundary of
        such chunks, so the same prompt is computed the same way whatever was cached before it.
        Sampled: any common prefix serves, and a repeated prompt costs one token, not a chunk."""
        llm, size = self.llm, _PREFILL_STEP
        known = llm.input_ids[: min(llm.n_tokens, self._chunked) if exact else llm.n_tokens].tolist()
        cached = 0
        for old, new in zip(known, prompt, strict=False):
            if old != new:
                break
            cached += 1
        # At least the last token is evaluated again, so the logits are the prompt's.
        start = min(cached, len(prompt) - 1)
        if exact:
            start = start // size * size
        # Chunks computed from elsewhere than a boundary do not serve an exact prompt later.
        self._chunked = min(self._chunked, start // size * size)
        llm.n_tokens = start  # eval() drops the KV cache beyond n_tokens
        while start < len(prompt):
            if cancel.is_set():
                return False
            end = min(len(prompt), start + size)
            llm.eval(prompt[start:end])
            start = end
            if exact and start % size == 0:
                self._chunked = start
        return True

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = self._token_bytes(token)
        return piece

    def _token_bytes(self, token: int) -> bytes:
        lib, size = self._llama_cpp, 64
        while True:
            buffer = ctypes.create_string_buffer(size)
            n = lib.llama_token_to_piece(self._vocab, token, buffer, size, 0, False)
            if n >= 0:
                return buffer.raw[:n]
            size = -n  # the piece needs -n bytes

    async def close(self) -> None:
        async with self._lock:
            if not self._closed:
                self._closed = True
                self._thread.shutdown()
                self.llm.close()


async def _until_done(queue: asyncio.Queue[object]) -> None:
    """Wait for the worker's last word, through cancellation too: the model lock must not be
    released while llama.cpp still runs. A cancellation received meanwhile is raised afterwards."""
    interrupted = False
    while True:
        try:
            if await queue.get() is _DONE:
                break
        except asyncio.CancelledError:
            interrupted = True
    if interrupted:
        raise asyncio.CancelledError


class StopText:
    """A generation's text as it may be shown: the bytes of a split UTF-8 character, and an end that
    could begin a stop string, are held back; a stop string and anything after it never show."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = [s for s in stops if s]
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.held = ""
        self.stopped = False

    def add(self, data: bytes) -> tuple[str, bool]:
        """The text that can be shown now, and whether a stop string ended the generation."""
        self.held += self.decoder.decode(data)
        ends = [at for at in (self.held.find(s) for s in self.stops) if at >= 0]
        if ends:
            self.stopped = True
            shown, self.held = self.held[: min(ends)], ""
            return shown, True
        cut = len(self.held) - max((_overlap(self.held, s) for s in self.stops), default=0)
        shown, self.held = self.held[:cut], self.held[cut:]
        return shown, False

    def flush(self) -> str:
        """What is held back, once the generation has ended without a stop string."""
        if self.stopped:
            return ""
        shown, self.held = self.held + self.decoder.decode(b"", final=True), ""
        return shown


def _overlap(text: str, stop: str) -> int:
    """Length of the longest end of ``text`` that begins ``stop`` (short of all of it)."""
    for k in range(min(len(stop) - 1, len(text)), 0, -1):
        if text.endswith(stop[:k]):
            return k
    return 0
