"""Run a real ``redis-server`` on 127.0.0.1 for tests: a free port, no persistence, its own directory,
always stopped. Tests that need one are skipped, with the reason, only when redis-server is absent."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class RunningRedis:
    url: str  # redis://127.0.0.1:PORT/0
    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def restart(self) -> None:
        """Start it again on the same port (empty: it keeps nothing), after ``stop``."""
        self.stop()
        self.process = _spawn(self.port, self.directory)
        _wait(self.port, self.process, self.directory)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def binary() -> str | None:
    return shutil.which("redis-server")


def _spawn(port: int, directory: Path) -> subprocess.Popen[bytes]:
    command = [
        binary() or "redis-server",
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
        "--logfile", str(directory / "redis.log"),
    ]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait(port: int, process: subprocess.Popen[bytes], directory: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    log = directory / "redis.log"
    text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"redis-server did not start on port {port}:\n{text}")


@contextmanager
def running(directory: Path) -> Iterator[RunningRedis]:
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = _spawn(port, directory)
    server = RunningRedis(f"redis://127.0.0.1:{port}/0", port, directory, process)
    try:
        _wait(port, process, directory)
        yield server
    finally:
        server.stop()
