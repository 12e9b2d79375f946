"""Files sent by the server itself (``http.response.zerocopysend``), on a real uvicorn with ossdoc's
protocol and through a real ``ossdoc serve``; and a response's head leaving with its first body bytes."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import oss2
import pytest
import uvicorn

from ossdoc.wire import zerocopy
from ossdoc.wire.protocol import OSSHttpToolsProtocol
from ossdoc_server import free_port, running

BIG = 48 * 1024 * 1024


class FileApp:
    """Sends ``path`` from two pieces (the second half, then the first) with the extension."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offered: list[bool] = []
        self.errors: list[BaseException] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.offered.append(zerocopy.EXTENSION in scope.get("extensions", {}))
        size = self.path.stat().st_size
        half = size // 2
        try:
            with self.path.open("rb") as file:
                headers = [(b"content-length", str(size).encode())]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                for offset, count, more in ((half, size - half, True), (0, half, False)):
                    message = {"type": zerocopy.EXTENSION, "file": file, "offset": offset, "count": count}
                    await send({**message, "more_body": more})
        except BaseException as exc:
            self.errors.append(exc)
            raise


@contextlib.contextmanager
def serving(app: Any) -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(app, port=port, loop="uvloop", http=OSSHttpToolsProtocol, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_server_sends_file_pieces_itself(tmp_path: Path) -> None:
    path = tmp_path / "body"
    data = os.urandom(BIG + 12345)
    path.write_bytes(data)
    app = FileApp(path)
    with serving(app) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(2):  # the connection stays usable after a file was sent on it
            connection.request("GET", "/")
            reply = connection.getresponse()
            assert reply.status == 200
            assert reply.read() == data[len(data) // 2 :] + data[: len(data) // 2]
        connection.close()
    assert app.offered == [True, True]
    assert app.errors == []


def test_a_client_leaving_mid_file_costs_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "body"
    path.write_bytes(os.urandom(BIG))
    app = FileApp(path)
    with serving(app) as port:
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            # A reset, not a polite close: the server's next write fails at once.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/")
        assert len(connection.getresponse().read()) == BIG
        connection.close()
    assert app.errors == []


class PausingApp:
    """Sends its head, waits, then its body: with a Content-Length, or streamed (chunked)."""

    def __init__(self, length: bool) -> None:
        self.length = length

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-length", b"4")] if self.length else [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await asyncio.sleep(0.3)
        await send({"type": "http.response.body", "body": b"body", "more_body": False})


def _first_bytes(port: int) -> tuple[bytes, bytes]:
    """What arrives within 0.15 s of the request, and all that arrived once the body has."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(0.15)
        try:
            early = sock.recv(65536)
        except TimeoutError:
            early = b""
        sock.settimeout(5)
        whole = early
        while not whole.endswith((b"body", b"0\r\n\r\n")):
            whole += sock.recv(65536)
        return early, whole


def test_a_head_with_a_length_leaves_with_its_body() -> None:
    with serving(PausingApp(length=True)) as port:
        early, whole = _first_bytes(port)
    assert early == b""  # not a packet of its own
    assert whole.startswith(b"HTTP/1.1 200") and whole.endswith(b"\r\n\r\nbody")


def test_a_streams_head_leaves_at_once() -> None:
    with serving(PausingApp(length=False)) as port:
        early, whole = _first_bytes(port)
    assert early.startswith(b"HTTP/1.1 200") and early.endswith(b"\r\n\r\n")
    assert b"body" in whole


@pytest.fixture(scope="module")
def bucket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[oss2.Bucket]:
    with running(tmp_path_factory.mktemp("zerocopy") / "data", llm="fake") as server:
        auth = oss2.Auth(server.access_key_id, server.access_key_secret)
        bucket = oss2.Bucket(auth, server.endpoint, "files")
        bucket.create_bucket()
        yield bucket


def test_large_objects_and_ranges_through_ossdoc(bucket: oss2.Bucket) -> None:
    whole = os.urandom(3 * 1024 * 1024 + 7)
    bucket.put_object("whole", whole)
    assert bucket.get_object("whole").read() == whole
    assert bucket.get_object("whole", byte_range=(100_000, 2_000_000)).read() == whole[100_000:2_000_001]
    # Parts: files, then a small one kept in the database (the rest of the body is read and sent).
    parts = [os.urandom(1024 * 1024), os.urandom(1024 * 1024 + 3), b"tail"]
    upload = bucket.init_multipart_upload("parts").upload_id
    done = [
        oss2.models.PartInfo(n, bucket.upload_part("parts", upload, n, part).etag)
        for n, part in enumerate(parts, 1)
    ]
    bucket.complete_multipart_upload("parts", upload, done)
    joined = b"".join(parts)
    assert bucket.get_object("parts").read() == joined
    span = (len(parts[0]) - 10, 2 * 1024 * 1024 + 1)
    assert bucket.get_object("parts", byte_range=span).read() == joined[span[0] : span[1] + 1]
