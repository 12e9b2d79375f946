"""The two limits that large transfers are measured against, both on 127.0.0.1 in this process.

``loopback``: a raw TCP copy in 1 MiB writes, the machine's physical limit.
``running``: an HTTP/1.1 server that only moves bytes (drains a PUT, answers a GET with a fixed
body), so that httpx against it is the client's own ceiling."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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
