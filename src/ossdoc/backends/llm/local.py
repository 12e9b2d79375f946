"""The embedded backend: a GGUF model run in-process by llama.cpp (llama-cpp-python).

A generation runs in a worker thread on llama-cpp-python's token-level API (``Llama.generate``),
not ``create_chat_completion``: that way usage is exact at every token, the prompt is evaluated in
steps that can be interrupted, and pieces longer than 32 bytes are not lost (``Llama.detokenize``
drops them: runs of spaces in code, for one). Tokens reach the event loop through
``call_soon_threadsafe``.

The worker is one thread for the model's lifetime: llama.cpp's OpenMP keeps a team of spinning
helper threads for each thread that computes, and a second team halves the speed (measured on 2
cores: 112 → 57 tok/s). Closing the stream sets a flag the worker checks between tokens and
between prompt steps; the model lock (llama.cpp's context serves one generation at a time) is
released only once the worker is done."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import ctypes
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ossdoc.backends.llm.base import Chunk, Message, ModelInfo, Sampling
from ossdoc.backends.llm.errors import LLMError

log = logging.getLogger("ossdoc.llm")
_DONE = object()
# The prompt is evaluated in steps of about this long, so a cancel waits for one step at most. Steps
# are sized from the measured prompt rate (one 512-token batch takes ~4 s on 2 cores with the 0.5B
# model); fewer, larger steps cost less: each step is a pass over the weights.
_STEP_SECONDS = 0.8
_FIRST_RATE = 0.01  # seconds per prompt token assumed until one is measured


class LocalLlama:
    def __init__(self, model_path: Path, *, name: str, context_size: int, threads: int) -> None:
        """Loads the model: slow (seconds), so construct it off the event loop."""
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
        self._prompt_rate = _FIRST_RATE  # seconds per prompt token, a moving average
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ossdoc-llama")
        self.worker: Future[None] | None = None  # the current or last generation's work
        self.tokens_after_cancel = 0  # tokens computed after a cancel request (for tests: ≤ 1 each)

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
        if not self._prefill(prompt, cancel):
            log.info("generation cancelled: 0 token computed after the cancel, in the prompt")
            return
        llm, lib = self.llm, self._llama_cpp
        llm.set_seed(lib.LLAMA_DEFAULT_SEED if sampling.seed is None else sampling.seed)
        tokens = llm.generate(
            prompt,
            temp=sampling.temperature,
            top_p=sampling.top_p,
            repeat_penalty=sampling.repeat_penalty,
            reset=True,
        )
        text = StopText(sampling.stop)
        count, reason = 0, "length"
        try:
            while count < max_tokens:
                if cancel.is_set():
                    log.info("generation cancelled: 0 token computed after the cancel, %d before", count)
                    return
                token = next(tokens, None)
                if token is None:
                    reason = "stop"
                    break
                if cancel.is_set():
                    self.tokens_after_cancel += 1  # computed, then dropped
                    log.info("generation cancelled: 1 token computed after the cancel, %d before", count)
                    return
                if lib.llama_vocab_is_eog(self._vocab, token):
                    reason = "stop"
                    break
                count += 1
                delta, stopped = text.add(self._piece(token))
                post(Chunk(delta, len(prompt), count))
                if stopped:
                    reason = "stop"
                    break
        finally:
            tokens.close()
        post(Chunk(text.flush(), len(prompt), count, reason))

    def _prefill(self, prompt: list[int], cancel: threading.Event) -> bool:
        """Evaluate the prompt in steps that a cancel can interrupt, reusing the KV cache's common
        prefix with the previous request. ``Llama.generate`` then finds the prompt evaluated and
        samples at once. False if cancelled."""
        llm = self.llm
        cached = 0
        for old, new in zip(llm.input_ids[: llm.n_tokens].tolist(), prompt, strict=False):
            if old != new:
                break
            cached += 1
        # At least the last token is evaluated again, so the logits are the prompt's.
        start = max(0, min(cached, len(prompt) - 1))
        llm.n_tokens = start  # eval() drops the KV cache beyond n_tokens
        while start < len(prompt):
            if cancel.is_set():
                return False
            step = max(16, min(llm.n_batch, int(_STEP_SECONDS / self._prompt_rate)))
            if len(prompt) - start < step * 3 // 2:  # no short step left over at the end
                step = len(prompt) - start
            began = time.perf_counter()
            llm.eval(prompt[start : start + step])
            self._prompt_rate = 0.5 * self._prompt_rate + 0.5 * (time.perf_counter() - began) / step
            start += step
        return True

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            lib, size = self._llama_cpp, 64
            while True:
                buffer = ctypes.create_string_buffer(size)
                n = lib.llama_token_to_piece(self._vocab, token, buffer, size, 0, False)
                if n >= 0:
                    break
                size = -n  # the piece needs -n bytes
            piece = self._pieces[token] = buffer.raw[:n]
        return piece

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
