"""Run a real ``ossdoc serve`` on 127.0.0.1 for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY_ID = "LTAItestkey0000000000000"
ACCESS_KEY_SECRET = "testsecret0000000000000000000000"


@dataclass
class RunningServer:
    endpoint: str  # http://127.0.0.1:PORT
    port: int
    data: Path
    process: subprocess.Popen[bytes]
    log: Path
    access_key_id: str = ACCESS_KEY_ID
    access_key_secret: str = ACCESS_KEY_SECRET

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ossdoc exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"ossdoc did not listen within {timeout}s:\n{log.read_text()[-4000:]}")


def start(data: Path, port: int | None = None, **settings: str) -> RunningServer:
    """Start a server; ``settings`` become OSSDOC_* variables (e.g. llm="fake")."""
    port = port or free_port()
    data.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSSDOC_")}
    env.update(
        OSSDOC_ACCESS_KEY_ID=ACCESS_KEY_ID,
        OSSDOC_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
        OSSDOC_LLM="fake",
        OSSDOC_LOG_LEVEL="warning",
    )
    env.update({f"OSSDOC_{k.upper()}": v for k, v in settings.items()})
    log = data.parent / f"{data.name}-server-{port}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ossdoc",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data",
                str(data),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = RunningServer(f"http://127.0.0.1:{port}", port, data, process, log)
    try:
        wait_for_port(port, process, log)
    except BaseException:
        server.kill()
        raise
    return server


@contextmanager
def running(data: Path, **settings: str) -> Iterator[RunningServer]:
    server = start(data, **settings)
    try:
        yield server
    finally:
        server.stop()
