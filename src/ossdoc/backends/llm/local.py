"""The embedded backend: a GGUF model run in-process by llama.cpp (llama-cpp-python).

Generation runs token by token in a worker thread; tokens reach the event loop through a queue.
Closing the stream sets a flag the worker checks before every token, so a disconnected client stops
the model within one token, and the lock (one generation at a time: llama.cpp's context is not
shareable) is released only once the worker has really stopped."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ossdoc.backends.llm.base import Chunk, Message, ModelInfo, Sampling
from ossdoc.backends.llm.errors import LLMError

log = logging.getLogger("ossdoc.llm")
_DONE = object()


class LocalLlama:
    def __init__(self, model_path: Path, *, name: str, context_size: int, threads: int) -> None:
        """Loads the model: slow (seconds), so construct it off the event loop."""
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llm = Llama(
            model_path=str(model_path),
            n_ctx=context_size,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
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
        self._info = ModelInfo(name, context_size, {"path": str(model_path), "threads": str(threads)})
        self._lock = asyncio.Lock()
        self.generations = 0
        self.tokens_after_cancel = 0  # tokens the worker produced after a cancel request (tests)

    @property
    def info(self) -> ModelInfo:
        return self._info

    async def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode(), add_bos=False, special=False))

    def prompt_tokens(self, messages: list[Message]) -> list[int]:
        chat: Any = [{"role": m.role, "content": m.content} for m in messages]
        formatted = self.formatter(messages=chat)
        tokens: list[int] = self.llm.tokenize(
            formatted.prompt.encode(), add_bos=not formatted.added_special, special=True
        )
        return tokens

    async def generate(self, messages: list[Message], sampling: Sampling) -> AsyncIterator[Chunk]:
        async with self._lock:
            self.generations += 1
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[Any] = asyncio.Queue()
            cancel = threading.Event()
            prompt = await asyncio.to_thread(self.prompt_tokens, messages)
            if len(prompt) + 1 >= self._info.context_size:
                raise LLMError(
                    f"prompt of {len(prompt)} tokens does not fit the {self._info.context_size}-token context"
                )
            max_tokens = min(sampling.max_tokens, self._info.context_size - len(prompt))

            def emit(item: object) -> None:
                loop.call_soon_threadsafe(queue.put_nowait, item)

            worker = threading.Thread(
                target=self._run, args=(prompt, max_tokens, sampling, cancel, emit), daemon=True
            )
            worker.start()
            try:
                while True:
                    item = await queue.get()
                    if item is _DONE:
                        break
                    if isinstance(item, BaseException):
                        raise LLMError(f"generation failed: {item}") from item
                    yield item
            finally:
                cancel.set()
                # Wait for the worker off the loop: the lock must stay held until llama.cpp is idle.
                await asyncio.to_thread(worker.join)

    def _run(
        self, prompt: list[int], max_tokens: int, sampling: Sampling, cancel: threading.Event, emit: Any
    ) -> None:
        import llama_cpp

        llm = self.llm
        vocab = llm._model.vocab
        produced: list[int] = []
        pending = b""
        text = ""
        reason = "length"
        try:
            if sampling.seed is not None:
                llm.set_seed(sampling.seed)
            for token in llm.generate(
                prompt,
                temp=sampling.temperature,
                top_p=sampling.top_p,
                repeat_penalty=sampling.repeat_penalty,
                reset=True,
            ):
                if cancel.is_set():
                    self.tokens_after_cancel += 1  # computed before the flag was seen; dropped
                    log.info(
                        "generation cancelled: 1 token computed after the cancel, %d before", len(produced)
                    )
                    break
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    reason = "stop"
                    break
                pending += llm.detokenize([token], prev_tokens=prompt + produced)
                produced.append(token)
                delta, pending = _decode_prefix(pending)
                stop_at = _find_stop(text + delta, sampling.stop)
                if stop_at is not None:
                    emit(Chunk((text + delta)[len(text) : stop_at], len(prompt), len(produced)))
                    reason = "stop"
                    break
                text += delta
                emit(Chunk(delta, len(prompt), len(produced)))
                if len(produced) >= max_tokens:
                    break
            else:
                reason = "stop"
            if cancel.is_set():
                return
            tail = pending.decode("utf-8", errors="replace")
            emit(Chunk(tail, len(prompt), len(produced), reason))
        except BaseException as exc:
            emit(exc)
        finally:
            emit(_DONE)

    async def close(self) -> None:
        async with self._lock:
            self.llm.close()


def _decode_prefix(data: bytes) -> tuple[str, bytes]:
    """Decode the longest valid UTF-8 prefix; keep a split multi-byte character for later."""
    for cut in range(len(data), max(len(data) - 4, -1), -1):
        try:
            return data[:cut].decode("utf-8"), data[cut:]
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace"), b""


def _find_stop(text: str, stops: tuple[str, ...]) -> int | None:
    positions = [text.find(s) for s in stops if s and s in text]
    return min(positions) if positions else None
