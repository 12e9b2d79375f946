"""The two limits that large transfers are measured against, both on 127.0.0.1 in this process.

``loopback``: a raw TCP copy in 1 MiB writes, the machine's physical limit.
``transfer``: one HTTP GET or PUT whose body moves exactly as ``loopback`` moves it (1 MiB
``sendall``s, ``recv_into`` a 1 MiB buffer), so that a server's rate over it is like for like with
``loopback``: wrk reads a response through an 8 KiB buffer, which caps it well below the loopback.
``running``: an HTTP/1.1 server that only moves bytes (drains a PUT, answers a GET with a fixed
body), so that httpx against it is the client's own ceiling."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

IO_TIMEOUT = 60.0
MAX_HEADERS = 100


def loopback(size: int, chunk: bytes) -> float:
    """MiB/s of ``size`` bytes sent over 127.0.0.1 in ``chunk``-sized writes."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(IO_TIMEOUT)
        received = [0]

        def sink() -> None:
            conn, _ = listener.accept()
            buffer = bytearray(len(chunk))
            with conn:
                conn.settimeout(IO_TIMEOUT)
                while got := conn.recv_into(buffer):
                    received[0] += got

        thread = threading.Thread(target=sink)
        thread.start()
        start = time.perf_counter()
        with socket.create_connection(listener.getsockname(), timeout=IO_TIMEOUT) as sender:
            view = memoryview(chunk)
            for offset in range(0, size, len(chunk)):
                sender.sendall(view[: min(len(chunk), size - offset)])
        thread.join(IO_TIMEOUT)
        elapsed = time.perf_counter() - start
    if received[0] != size:
        raise RuntimeError(f"loopback moved {received[0]} of {size} bytes")
    return size / (1024 * 1024) / elapsed


def transfer(url: str, method: str, size: int, chunk: bytes) -> float:
    """MiB/s of one ``method`` (GET or PUT) of a ``size``-byte body at ``url``, from the first byte of
    the request to the last of the response, the body moved in ``chunk``-sized pieces."""
    parts = urlsplit(url)
    target = f"{parts.path}?{parts.query}" if parts.query else parts.path
    head = f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
    if method == "PUT":
        head += f"Content-Length: {size}\r\n"  # no Content-Type: a presigned V1 URL signs it
    start = time.perf_counter()
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=IO_TIMEOUT) as conn:
        conn.sendall((head + "\r\n").encode())
        if method == "PUT":
            view = memoryview(chunk)
            for offset in range(0, size, len(chunk)):
                conn.sendall(view[: min(len(chunk), size - offset)])
        buffer = bytearray(len(chunk))
        got = conn.recv_into(buffer)
        while b"\r\n\r\n" not in buffer[:got]:
            more = conn.recv_into(memoryview(buffer)[got:])
            if not more:
                raise RuntimeError("connection closed before the response head")
            got += more
        end = bytes(buffer[:got]).index(b"\r\n\r\n") + 4
        status, *lines = bytes(buffer[: end - 4]).decode("latin-1").split("\r\n")
        if status.split()[1] != "200":
            raise RuntimeError(f"{method} {url[:60]}...: {status}")
        length = next(
            int(v) for n, _, v in (line.partition(":") for line in lines) if n.lower() == "content-length"
        )
        received = got - end
        while received < length:
            more = conn.recv_into(buffer)
            if not more:
                raise RuntimeError(f"{method} body cut at {received} of {length} bytes")
            received += more
    elapsed = time.perf_counter() - start
    if method == "GET" and length != size:
        raise RuntimeError(f"GET returned {length} bytes, expected {size}")
    return size / (1024 * 1024) / elapsed


def serve(conn: socket.socket, size: int, chunk: bytes) -> None:
    conn.settimeout(IO_TIMEOUT)
    with conn, conn.makefile("rb") as reader:
        while request := reader.readline(65536):
            method, length = request.split()[0], 0
            for _ in range(MAX_HEADERS):
                line = reader.readline(65536)
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while length > 0:
                piece = reader.read(min(length, len(chunk)))
                if not piece:
                    return
                length -= len(piece)
            if method != b"GET":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                continue
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            view = memoryview(chunk)
            for offset in range(0, size, len(chunk)):
                conn.sendall(view[: min(len(chunk), size - offset)])


@contextmanager
def running(size: int, chunk: bytes) -> Iterator[Callable[[str, str], str]]:
    """Yield a URL maker like a presigner's; every GET returns ``size`` bytes of ``chunk``."""
    stop = threading.Event()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.2)
        port = listener.getsockname()[1]

        def accept() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=serve, args=(conn, size, chunk), daemon=True).start()

        acceptor = threading.Thread(target=accept)
        acceptor.start()
        try:
            yield lambda method, key: f"http://127.0.0.1:{port}/{key}"
        finally:
            stop.set()
            acceptor.join()
