"""Run a real ``ossdoc serve`` on 127.0.0.1 for tests and benchmarks."""

from __future__ import annotations

import contextlib
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
        """SIGKILL to the supervisor and every worker at once: a crash of the whole server."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def children(self) -> list[int]:
        """The pids of the supervisor's children (workers, the model service)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.process.pid:
                    found.append(int(stat.parent.name))
        return sorted(found)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: each socket stays bound until all are chosen, so the kernel
    cannot hand the same port out twice (a server whose filer got its master's port died at start)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ossdoc exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            # Any HTTP answer (an unsigned request is refused) means a worker serves: the port
            # itself is bound by the supervisor before its workers start.
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if sock.recv(16).startswith(b"HTTP/1.1 "):
                    return
        except OSError:
            pass
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
        # One worker unless a test asks for more: most tests are about one request at a time.
        OSSDOC_WORKERS="1",
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
            start_new_session=True,  # its own process group: kill() takes the workers too
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
