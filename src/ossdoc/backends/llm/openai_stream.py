"""Reading an OpenAI-compatible server's streamed reply: its events, strictly, and how long to wait.

A server that is evaluating a long prompt and one that hangs both go silent before the first
token. They differ in two ways this module uses: a live server may send bytes meanwhile (response
headers, SSE comments: llama-cpp-python's server pings every 15 s), and a live server answers
another HTTP request (``GET /health``, whatever the status) while a hung one, or a stopped process,
does not. So before the
first token, silence is checked with that health request every ``stall`` seconds and tolerated up to
``first_token`` seconds in all; after it, ``stall`` seconds without a token end the reply."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ossdoc.backends.llm.base import Chunk
from ossdoc.backends.llm.errors import LLMError

T = TypeVar("T")
MAX_LINE = 1 << 20  # bytes; a delta event is well under a kilobyte
_FIELDS = ("data", "event", "id", "retry")


class Patience:
    """The deadlines of one reply. ``alive`` is the health check: True when the server answers."""

    def __init__(self, stall: float, first_token: float, alive: Callable[[], Awaitable[bool]]) -> None:
        self.stall = stall
        self.first_token = first_token
        self.alive = alive
        self.started = self.heard = time.monotonic()
        self.last_token: float | None = None  # when the consumer took the latest token

    def token(self) -> None:
        self.last_token = time.monotonic()

    async def wait(self, step: Awaitable[T]) -> T:
        """``step`` (the next bytes of the reply), or LLMError when the server took too long. The
        step runs in a task of its own so that a health check can be made while it waits: a
        cancelled read could not be resumed."""
        task = asyncio.ensure_future(step)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=max(0.0, self._deadline() - time.monotonic()))
                if done:
                    self.heard = time.monotonic()  # any bytes are a sign of life
                    return task.result()
                await self._expired()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def _deadline(self) -> float:
        if self.last_token is not None:
            return self.last_token + self.stall
        return min(self.heard + self.stall, self.started + self.first_token)

    async def _expired(self) -> None:
        """Raise unless the server is still evaluating the prompt (it answers its health check)."""
        now = time.monotonic()
        if self.last_token is not None:
            raise LLMError(f"the model server sent no token for {self.stall:g} s (it hangs)")
        if now - self.started >= self.first_token:
            raise LLMError(f"the model server sent no token in {self.first_token:g} s")
        if not await self.alive():
            raise LLMError(
                f"the model server sent nothing for {self.stall:g} s and does not answer a health "
                "check (it hangs or is stopped)"
            )
        self.heard = time.monotonic()


class EventReader:
    """Chunks of an OpenAI chat-completion event stream, fed its bytes as they come.

    Without per-chunk usage, each content delta counts as a token; the server's usage (the last
    event, with ``include_usage``) replaces the counts when it comes. Anything that is not an event
    stream (bytes that are not UTF-8, a line that is no SSE field, an endless line) is an error
    rather than something to skip: a server that sends it is broken or is not the server meant."""

    def __init__(self, input_tokens: int | None) -> None:
        """``input_tokens``: the prompt's count, until the server's usage tells; None: unknown, the
        chunks carry 0 until the caller fills it in."""
        self.input_tokens = input_tokens
        self.output_tokens = 0
        self.reason: str | None = None
        self.done = False  # [DONE] was received
        self._buffer = b""
        self._data: list[str] = []
        self._event = ""

    def feed(self, data: bytes) -> list[Chunk]:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        if len(self._buffer) > MAX_LINE:
            raise LLMError(f"the model server sent a line longer than {MAX_LINE} bytes")
        chunks: list[Chunk] = []
        for raw in lines:
            if self.done:
                break
            chunks += self._line(raw.removesuffix(b"\r"))
        return chunks

    def finish(self) -> list[Chunk]:
        """The last chunks, once the stream has ended (the final one has the finish reason); LLMError
        if it ended before the reply did."""
        chunks: list[Chunk] = []
        if not self.done:
            # A last line or event without its line break: taken as it is.
            chunks += self._line(self._buffer.removesuffix(b"\r"))
            chunks += self._dispatch()
        if self.reason is None and not self.done:
            raise LLMError("the model server ended the stream before the end of the reply")
        final = Chunk("", self.input_tokens or 0, self.output_tokens, self.reason or "stop")
        return [*chunks, final]

    def _line(self, raw: bytes) -> list[Chunk]:
        if len(raw) > MAX_LINE:
            raise LLMError(f"the model server sent a line longer than {MAX_LINE} bytes")
        try:
            line = raw.decode()
        except UnicodeDecodeError:
            raise LLMError(f"the model server sent bytes that are not UTF-8: {_show(raw)}") from None
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return []  # a comment: a keep-alive ping
        name, _, value = line.partition(":")
        if name not in _FIELDS:
            raise LLMError(f"the model server sent something that is not an event stream: {_show(raw)}")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return []

    def _dispatch(self) -> list[Chunk]:
        data, kind = "\n".join(self._data), self._event
        self._data, self._event = [], ""
        if not data:
            return []
        if data == "[DONE]":
            self.done = True
            return []
        try:
            event: Any = json.loads(data)
        except ValueError:
            raise LLMError(f"the model server sent an event that is not JSON: {_show(data)}") from None
        if not isinstance(event, dict):
            raise LLMError(f"the model server sent an event that is not an object: {_show(data)}")
        if event.get("error") or kind == "error":
            error = event.get("error") or event
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                error = error["message"]
            raise LLMError(f"the model server failed: {_show(error)}")
        return self._event_chunks(event)

    def _event_chunks(self, event: dict[str, Any]) -> list[Chunk]:
        usage = event.get("usage")
        try:
            if usage:
                if "prompt_tokens" in usage:
                    self.input_tokens = int(usage["prompt_tokens"])
                self.output_tokens = int(usage.get("completion_tokens", self.output_tokens))
            chunks: list[Chunk] = []
            for choice in event.get("choices") or []:
                text = (choice.get("delta") or {}).get("content") or ""
                if not isinstance(text, str):
                    raise TypeError(f"content is {type(text).__name__}")
                if text:
                    if not usage:
                        self.output_tokens += 1
                    chunks.append(Chunk(text, self.input_tokens or 0, self.output_tokens))
                if choice.get("finish_reason"):
                    self.reason = "length" if choice["finish_reason"] == "length" else "stop"
        except (AttributeError, TypeError, ValueError) as exc:
            raise LLMError(f"the model server sent a malformed event ({exc}): {_show(event)}") from None
        return chunks


def _show(value: object) -> str:
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return repr(text[:200])
