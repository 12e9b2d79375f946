"""uvicorn's httptools protocol, answering requests it cannot parse the way OSS answers errors, and
sending files without copying them through Python (``wire/zerocopy.py``).

Bytes that are not HTTP (a control character in the request line, a header without a colon, a
request line or header block past ``MAX_HEAD_BYTES``) never reach the application: uvicorn answers
them with a plain-text 400 itself. This protocol gives the client an OSS XML error instead, so every
answer ossdoc sends is one an OSS client can parse."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ossdoc import errors
from ossdoc.wire import xml, zerocopy
from ossdoc.wire.conditions import http_date
from ossdoc.wire.context import new_request_id

# OSS keys are at most 1023 bytes, percent-encoded at most three times that; with the query and
# headers of any real request this leaves a wide margin. Past it the request is refused before it
# is buffered further.
MAX_HEAD_BYTES = 64 * 1024
# How long a connection answered before its request was read keeps draining what the client sends.
LINGER_SECONDS = 2.0

InvalidRequest = errors.define("InvalidRequest", 400, "The request is not a valid HTTP request.")


def invalid_request_reply(message: str) -> bytes:
    request_id = new_request_id()
    body = xml.error_body(InvalidRequest(message), request_id, "")
    head = (
        "HTTP/1.1 400 Bad Request\r\n"
        "Server: AliyunOSS\r\n"
        f"Date: {http_date()}\r\n"
        f"x-oss-request-id: {request_id}\r\n"
        "Content-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _Transport:
    """The connection's transport, with two changes.

    Closing it while the client is still sending its request body half-closes instead and drops
    what still arrives for a moment: closing a socket with unread bytes makes the kernel send a
    reset, which can destroy the reply the client has not read yet (an early error such as
    NoSuchBucket, or a full disk, during a large upload).

    And what is written while it is held is written at its release, in one system call: uvloop
    writes each ``write`` at once, so a response's head would leave in a packet of its own and wake
    the client for it, before the body that follows a moment later (see ``_coalescing``)."""

    def __init__(self, transport: asyncio.Transport, protocol: OSSHttpToolsProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._held: list[bytes] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def write(self, data: bytes) -> None:
        if self._held is None:
            self._transport.write(data)
        else:
            self._held.append(data)

    def hold(self) -> None:
        self._held = []

    def release(self) -> None:
        held, self._held = self._held, None
        if held and not self._transport.is_closing():  # a client gone meanwhile reads nothing more
            self._transport.writelines(held)

    def close(self) -> None:
        self.release()
        if self._protocol.reading_request_body():
            self._protocol.linger()
        else:
            self._transport.close()


def _coalescing(cycle: Any, transport: _Transport, raw: asyncio.Transport | None) -> zerocopy.Send:
    """``cycle.send`` (uvicorn's RequestResponseCycle), sending a response's head with its first
    body bytes, and taking ``http.response.zerocopysend`` on ``raw`` (None: not offered).

    Only a head with a Content-Length is held: its body follows at once. A stream's head (SSE,
    chunked) leaves at once, so that a client knows it was accepted before the first event."""
    send: zerocopy.Send = cycle.send

    async def send_coalesced(message: Any) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            transport.hold()
            try:
                await send(message)
            finally:
                if cycle.chunked_encoding is not False:
                    transport.release()
            return
        try:
            if kind == zerocopy.EXTENSION and raw is not None:
                transport.release()
                await zerocopy.send(cycle, raw, message, send)
            else:
                await send(message)
        finally:
            transport.release()

    return send_coalesced


class OSSHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._lingering: asyncio.TimerHandle | None = None
        self._raw_transport: asyncio.Transport | None = None
        self._transport: _Transport | None = None
        self._zero_copy = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._raw_transport = transport  # uvloop's, which is not an asyncio.Transport subclass
        self._zero_copy = zerocopy.offered(transport)
        self._transport = _Transport(transport, self)
        super().connection_made(self._transport)  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lingering is not None:
            self._lingering.cancel()
        super().connection_lost(exc)

    def reading_request_body(self) -> bool:
        cycle = self.cycle
        return cycle is not None and cycle.more_body and not cycle.disconnected

    def linger(self) -> None:
        transport = self._raw_transport
        assert transport is not None
        if self._lingering is not None or transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()
        transport.resume_reading()
        self._lingering = self.loop.call_later(LINGER_SECONDS, transport.close)

    def data_received(self, data: bytes) -> None:
        if self._lingering is not None:
            return  # the rest of a request already answered: dropped
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        if self._zero_copy:
            self.scope["extensions"] = {zerocopy.EXTENSION: {}}

    def on_headers_complete(self) -> None:
        before = self.cycle
        super().on_headers_complete()
        if self.cycle is not None and self.cycle is not before and self._transport is not None:
            # Looked up when the request's task runs, which it has not yet.
            raw = self._raw_transport if self._zero_copy else None
            self.cycle.send = _coalescing(self.cycle, self._transport, raw)  # type: ignore[method-assign,assignment]

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            # Raised inside the parser's callback, it surfaces from feed_data as a parser error.
            raise ValueError("request head too large")

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def send_400_response(self, msg: str) -> None:
        if self._head_bytes > MAX_HEAD_BYTES:
            msg = f"The request line and headers exceed {MAX_HEAD_BYTES} bytes."
        else:
            msg = "The request is not a valid HTTP request: " + msg
        self.transport.write(invalid_request_reply(msg))
        self.linger()
