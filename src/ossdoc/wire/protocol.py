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


class _LingeringTransport:
    """The connection's transport, except that closing it while the client is still sending its
    request body half-closes instead and drops what still arrives for a moment: closing a socket
    with unread bytes makes the kernel send a reset, which can destroy the reply the client has
    not read yet (an early error such as NoSuchBucket, or a full disk, during a large upload)."""

    def __init__(self, transport: asyncio.Transport, protocol: OSSHttpToolsProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def close(self) -> None:
        if self._protocol.reading_request_body():
            self._protocol.linger()
        else:
            self._transport.close()


class OSSHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._lingering: asyncio.TimerHandle | None = None
        self._raw_transport: asyncio.Transport | None = None
        self._zero_copy = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._raw_transport = transport  # uvloop's, which is not an asyncio.Transport subclass
        self._zero_copy = zerocopy.offered(transport)
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]

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
        if self._zero_copy and self.cycle is not None and self.cycle is not before:
            # Looked up when the request's task runs, which it has not yet.
            self.cycle.send = zerocopy.wrap(self.cycle, self._raw_transport)  # type: ignore[method-assign,assignment]

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
