"""Server-sent events as OSS sends them for ``format_event-stream``.

Byte for byte like Alibaba's sample::

    id: 0
    event: message
    data: {"RequestId":"","Output":{"Text":"A Ghost,","FinishReason":"null"},"Usage":{...}}

and the last event is ``event: Result`` with ``"FinishReason":"stop"``. ``RequestId`` is empty in
events, as in the sample; the id is in the ``x-oss-request-id`` header.

ossdoc's additions, invisible to a client that follows the sample:

- ``: ping`` comments every 15 s while nothing else is sent (a long prompt, a wait in the queue),
  so proxies keep the connection open;
- at most one event per 50 ms: the text is cumulative, so the newest progress replaces any
  older one not sent yet; the first event goes as soon as there is text, the final one always;
- a failure after the stream started can no longer change the status, so it ends the stream with
  ``event: error`` and ``data: {"RequestId":"<id>","Code":"InternalError","Message":"..."}``
  instead of ``Result`` (here the request id is filled in: it is what support needs).

Client disconnects: Starlette's StreamingResponse (ASGI spec < 2.4, which uvicorn reports) listens
for ``http.disconnect`` and cancels the body iterator; ``frames`` then cancels the producer task,
which closes the generation and with it the model's stream."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ossdoc import errors
from ossdoc.services.docs import Generation, Progress

log = logging.getLogger("ossdoc.sse")
CONTENT_TYPE = "text/event-stream;charset=UTF-8"
PING = b": ping\n\n"


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def payload(progress: Progress, request_id: str, id_key: str = "RequestId") -> dict[str, Any]:
    """The document reply: ``id_key`` is ``RequestID`` in a JSON reply, ``RequestId`` in events."""
    finish = "null" if progress.finish_reason is None else "stop"
    reply: dict[str, Any] = {
        id_key: request_id,
        "Output": {"Text": progress.text, "FinishReason": finish},
        "Usage": {"InputTokens": progress.input_tokens, "OutputTokens": progress.output_tokens},
    }
    if progress.chunks > 1:  # ossdoc's extension: a long document was processed in pieces
        reply["Chunks"] = progress.chunks
    return reply


def frame(event_id: int, event: str, data: Mapping[str, Any]) -> bytes:
    return f"id: {event_id}\nevent: {event}\ndata: {dumps(data)}\n\n".encode()


@dataclass
class _Shared:
    """What the producer task hands to the writer: only the newest step matters."""

    latest: Progress | None = None
    outcome: Progress | BaseException | None = None  # the final step, or what went wrong
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class EventStream:
    def __init__(
        self,
        generation: Generation,
        request_id: str,
        *,
        ping_interval: float = 15.0,
        min_interval: float = 0.05,
        first_id: int = 0,
        replay: bytes = b"",
        recorder: Recorder | None = None,
    ) -> None:
        """``first_id``, ``replay``: a resumed stream's ids go on from the earlier ones, and it
        starts with the last event sent before (``replay``). ``recorder`` journals the stream."""
        self.generation = generation
        self.request_id = request_id
        self.ping_interval = ping_interval
        self.min_interval = min_interval
        self.first_id = first_id
        self.replay = replay
        self.recorder = recorder
        self._producer: asyncio.Future[None] | None = None
        self._latest: Progress | None = None
        self._ended = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.frames()

    async def frames(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        shared = _Shared()
        # The generation runs in a task of its own, from start to end: the writer may wait on the
        # client while the model goes on, and a backend's stream is never driven from two tasks.
        self._producer = asyncio.ensure_future(self._produce(shared))
        ids = itertools.count(self.first_id)
        sent: Progress | None = None
        last_write = next_event = loop.time()
        record = self.recorder.sent if self.recorder is not None else _no_record
        try:
            if self.replay:
                yield self.replay
            while True:
                unsent = shared.latest is not sent
                if shared.outcome is None:
                    wake = next_event if unsent else last_write + self.ping_interval
                    await _wait(shared.changed, wake - loop.time())
                outcome = shared.outcome
                if outcome is not None:
                    event_id = next(ids)
                    if isinstance(outcome, Progress):
                        last = frame(event_id, "Result", payload(outcome, ""))
                    else:
                        last = self._error(event_id, outcome)
                    yield last
                    self._ended = True
                    record(event_id, last, None)
                    return
                now = loop.time()
                if shared.latest is not sent and now >= next_event:
                    sent = shared.latest
                    assert sent is not None
                    event_id = next(ids)
                    event = frame(event_id, "message", payload(sent, ""))
                    yield event
                    record(event_id, event, shared.latest)
                    last_write, next_event = now, now + self.min_interval
                elif now - last_write >= self.ping_interval:
                    yield PING
                    last_write = now
        finally:
            # Also runs when the client went away and this iterator is cancelled: the shield lets
            # the generation be closed instead of abandoned mid-cancellation.
            with anyio.CancelScope(shield=True):
                await self.close()

    async def close(self) -> None:
        """Stop the generation (if still running) and give back its place in the queue."""
        if self._producer is not None:
            self._producer.cancel()
            await asyncio.gather(self._producer, return_exceptions=True)
        await self.generation.aclose()
        if self.recorder is not None:
            self.recorder.ended(self._ended, self._latest)
            self.recorder = None

    async def _produce(self, shared: _Shared) -> None:
        try:
            async for progress in self.generation:
                if progress.finish_reason is None:
                    shared.latest = self._latest = progress
                else:
                    shared.outcome = progress
                shared.changed.set()
            if shared.outcome is None:
                shared.outcome = errors.InternalError("The generation ended without a result.")
        except Exception as exc:
            shared.outcome = exc
        finally:
            shared.changed.set()
            await self.generation.aclose()

    def _error(self, event_id: int, exc: BaseException) -> bytes:
        if not isinstance(exc, errors.OSSError):
            log.error("document stream failed", exc_info=exc)
            exc = errors.InternalError()
        data = {"RequestId": self.request_id, "Code": exc.code, "Message": exc.message}
        return frame(event_id, "error", data)


class Recorder(Protocol):
    """Journals a stream for clients that resume it (``wire/resume.py``)."""

    def sent(self, event_id: int, event: bytes, latest: Progress | None) -> None:
        """``event`` has been sent; ``latest`` is how far the generation has come (None: it ended)."""

    def ended(self, finished: bool, latest: Progress | None) -> None:
        """The stream ended: with its last event sent, or not (the client left, the server stops)."""


def _no_record(event_id: int, event: bytes, latest: Progress | None) -> None:
    return None


async def _wait(event: asyncio.Event, timeout: float) -> None:
    """Until ``event`` is set or ``timeout`` passes. A timer that sets the event costs far less than
    asyncio.wait_for, which makes a task on every call (this runs once per generated token)."""
    if timeout > 0 and not event.is_set():
        timer = asyncio.get_running_loop().call_later(timeout, event.set)
        try:
            await event.wait()
        finally:
            timer.cancel()
    event.clear()


class EventStreamResponse(StreamingResponse):
    """Closes the generation however the response ends, even if its body was never started (the
    client left before the first byte): else the request would keep its place in the queue."""

    def __init__(self, stream: AsyncIterable[bytes], headers: Mapping[str, str] | None = None) -> None:
        fixed = {"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        super().__init__(stream, headers={**fixed, **(headers or {})})
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                if isinstance(self.stream, EventStream):
                    await self.stream.close()
                elif isinstance(self.stream, AsyncGenerator):
                    await self.stream.aclose()
