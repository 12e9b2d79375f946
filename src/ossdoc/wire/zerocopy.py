"""The ASGI zero-copy send extension (``http.response.zerocopysend``) for uvicorn's httptools protocol.

uvicorn offers neither ``http.response.pathsend`` nor sendfile, so a large GET would copy every byte
from the file into Python and back out to the socket. With this extension the application hands the
server an open file, an offset and a count, and the kernel copies the bytes from the page cache to
the socket (``os.sendfile``): no Python buffer, no thread, a fraction of the CPU.

The bytes go out in the event loop thread, as ``asyncio``'s own ``sock_sendfile`` does: the socket is
non-blocking, each call sends what the socket buffer takes, and when it is full the loop waits for it
to drain (on a duplicate of the descriptor: uvloop will not watch one its transport owns, and the
transport may close its own meanwhile). A file not in the page cache makes one call wait for the
disk; calls are capped so that this stays short. Only plain TCP connections offer the extension (TLS
needs the bytes in user space)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope
from starlette.types import Send as StarletteSend

from ossdoc.backends.storage.base import FileBacked

EXTENSION = "http.response.zerocopysend"
CALL_BYTES = 4 * 1024 * 1024  # the most one sendfile call copies before the loop runs again

Send = Callable[[Any], Awaitable[None]]


def offered(transport: Any) -> bool:
    """Whether the connection can take the extension: a plain socket."""
    sock = transport.get_extra_info("socket")
    return sock is not None and transport.get_extra_info("sslcontext") is None


async def send(cycle: Any, transport: Any, message: Any, finish: Send) -> None:
    """Send one ``http.response.zerocopysend`` message of uvicorn's RequestResponseCycle ``cycle``,
    on its raw ``transport``; ``finish`` is the cycle's own send, which ends the body."""
    if cycle.disconnected:
        return
    count = int(message["count"])
    if not cycle.response_started or cycle.response_complete or cycle.chunked_encoding is not False:
        raise RuntimeError(f"'{EXTENSION}' needs a started response with a Content-Length")
    if count > cycle.expected_content_length:
        raise RuntimeError("Response content longer than Content-Length")
    file = message["file"]
    fd = file if isinstance(file, int) else file.fileno()
    offset = message.get("offset")
    if offset is None:
        offset = os.lseek(fd, 0, os.SEEK_CUR)
    try:
        await send_file(transport, fd, int(offset), count)
    except OSError:
        # The client went away (a reset, a broken pipe), or the file could not be read: the reply
        # cannot be finished, so the connection ends, as uvicorn ends one whose client left.
        cycle.disconnected = True
        transport.close()
        return
    cycle.expected_content_length -= count
    await finish({"type": "http.response.body", "body": b"", "more_body": message.get("more_body", False)})


async def send_file(transport: Any, fd: int, offset: int, count: int) -> None:
    # What the transport still holds (the response head, if the socket did not take it at once)
    # leaves first.
    pause = 0.0
    while transport.get_write_buffer_size():
        await asyncio.sleep(pause)
        pause = 0.001
    # A duplicate of the socket: should the transport close its descriptor meanwhile (the client
    # left), the number could be reused by another connection before this loop notices.
    out = os.dup(transport.get_extra_info("socket").fileno())
    loop = asyncio.get_running_loop()
    try:
        while count:
            try:
                sent = os.sendfile(out, fd, offset, min(count, CALL_BYTES))
            except BlockingIOError:
                await _writable(loop, out)
                continue
            if sent == 0:
                raise EOFError(f"the file ended {count} bytes before the response")
            offset += sent
            count -= sent
    finally:
        os.close(out)


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


class ZeroCopyResponse(Response):
    """A body that the server sends from files itself: the descriptors of a ``FileBacked`` reader,
    which is closed once they are sent. Use it only where ``EXTENSION`` is in the scope's extensions."""

    def __init__(
        self, reader: FileBacked, files: list[tuple[int, int, int]], status_code: int, headers: dict[str, str]
    ) -> None:
        super().__init__(None, status_code=status_code, headers=headers)
        self.reader, self.files = reader, files

    async def __call__(self, scope: Scope, receive: Receive, send: StarletteSend) -> None:
        try:
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            )
            for number, (fd, offset, count) in enumerate(self.files, 1):
                more = number < len(self.files)
                await send(
                    {"type": EXTENSION, "file": fd, "offset": offset, "count": count, "more_body": more}
                )
            if not self.files:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await self.reader.aclose()


def files_of(body: object, scope: Scope) -> list[tuple[int, int, int]] | None:
    """The files a reader's bytes are in, when the server offers to send them itself."""
    if EXTENSION not in scope.get("extensions", {}) or not isinstance(body, FileBacked):
        return None
    return body.files()
