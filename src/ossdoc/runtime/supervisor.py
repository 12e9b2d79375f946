"""The supervisor of ``ossdoc serve``, in the manner of gunicorn's arbiter: it binds the listening
socket, forks the model service (for the embedded model) and N HTTP workers that share the socket,
and then only watches them.

- Signals are queued by their handlers and handled in one loop (``set_wakeup_fd`` wakes it).
- A child that dies is reaped and started again; only the requests in flight on it are lost. One
  that keeps dying at start is restarted with a growing pause instead of in a tight loop.
- SIGTERM and SIGINT drain: the workers stop accepting, finish their requests (uvicorn's graceful
  shutdown) and exit, then the model service; the supervisor exits 0. SIGQUIT stops at once.
- Children die with the supervisor even if it is killed (``PR_SET_PDEATHSIG``).

The children share nothing but the socket and the data dir; what they must agree on (admission,
tasks, the result cache, keys, resumable streams) is kept there, in SQLite."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import select
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("ossdoc.supervisor")
GRACE_SECONDS = 10.0  # a worker's drain (uvicorn's graceful shutdown), before it is killed
_PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    name: str
    main: Callable[[], None]  # runs in the forked process; its return ends the process with 0
    pid: int = 0  # 0 while not running
    last_pid: int = 0
    started: float = 0.0
    failures: int = 0  # deaths in a row soon after start
    restart_at: float = 0.0
    exits: list[int] = field(default_factory=list)  # exit statuses seen (for logs and tests)


class Supervisor:
    def __init__(self, children: list[Child], *, on_exit: Callable[[Child], None] | None = None) -> None:
        """``children`` are started in order (the model service first); ``on_exit`` runs in the
        supervisor after a child has been reaped (to reclaim what a dead worker held)."""
        self.children = children
        self.on_exit = on_exit
        self._signals: list[int] = []
        self._stopping = False

    def run(self) -> int:
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        os.set_blocking(read_fd, False)
        signal.set_wakeup_fd(write_fd)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGCHLD):
            signal.signal(signum, self._queue)
        try:
            for child in self.children:
                self._spawn(child)
            while True:
                self._reap()
                if self._stopping:
                    break
                self._restart_due()
                with contextlib.suppress(InterruptedError):
                    select.select([read_fd], [], [], 1.0)
                with contextlib.suppress(BlockingIOError):
                    os.read(read_fd, 4096)
                for received in self._drain():
                    if received in (signal.SIGTERM, signal.SIGINT):
                        log.info("%s: draining the workers", signal.Signals(received).name)
                        self._stop(graceful=True)
                    elif received == signal.SIGQUIT:
                        log.info("SIGQUIT: stopping at once")
                        self._stop(graceful=False)
        finally:
            signal.set_wakeup_fd(-1)
            os.close(read_fd)
            os.close(write_fd)
        return 0

    def _queue(self, signum: int, frame: object) -> None:
        self._signals.append(signum)

    def _drain(self) -> list[int]:
        signals, self._signals = self._signals, []
        return [s for s in signals if s != signal.SIGCHLD]

    def _spawn(self, child: Child) -> None:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            status = 1
            try:
                _child_setup()
                child.main()
                status = 0
            except BaseException:
                logging.getLogger("ossdoc").exception("%s failed", child.name)
            finally:
                logging.shutdown()
                os._exit(status)
        child.pid, child.started = pid, time.monotonic()
        log.info("started %s (pid %d)", child.name, pid)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = next((c for c in self.children if c.pid == pid), None)
            if child is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            child.exits.append(code)
            child.pid, child.last_pid = 0, pid
            if self.on_exit is not None:
                self.on_exit(child)
            if self._stopping:
                continue
            log.warning("%s (pid %d) exited with %d: restarting it", child.name, pid, code)
            quick = time.monotonic() - child.started < 5.0
            child.failures = child.failures + 1 if quick else 0
            pause = 0.0 if child.failures <= 1 else min(30.0, 0.5 * 2 ** (child.failures - 2))
            child.restart_at = time.monotonic() + pause

    def _restart_due(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.pid == 0 and child.restart_at <= now:
                self._spawn(child)

    def _stop(self, graceful: bool) -> None:
        """Workers first (they may still be finishing requests on the model), the model service last."""
        self._stopping = True
        workers = [c for c in self.children if not c.name.startswith("model")]
        model = [c for c in self.children if c.name.startswith("model")]
        for group in (workers, model):
            self._signal(group, signal.SIGTERM if graceful else signal.SIGKILL)
            deadline = time.monotonic() + (GRACE_SECONDS + 5 if graceful else 5)
            while any(c.pid for c in group) and time.monotonic() < deadline:
                time.sleep(0.05)
                self._reap()
            self._signal(group, signal.SIGKILL)
            while any(c.pid for c in group):
                time.sleep(0.02)
                self._reap()

    def _signal(self, children: list[Child], signum: int) -> None:
        for child in children:
            if child.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signum)


def _child_setup() -> None:
    """In a forked child: default signal handling, and death with the supervisor."""
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the supervisor died before prctl took effect
        os._exit(1)


def bind(host: str, port: int, count: int, backlog: int = 2048) -> list[socket.socket]:
    """One listening socket per worker, all on one port (``SO_REUSEPORT``): the kernel spreads new
    connections evenly among them, where one shared socket would hand most of them to whichever
    worker last waited. The supervisor keeps them open, so a worker started again takes up the
    connections that waited on its socket meanwhile."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]  # port 0: the others join the one the first got
            sock.listen(backlog)
            sock.set_inheritable(True)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        reason = "in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise SystemExit(f"ossdoc: cannot listen on {host}:{port}: {reason}") from exc
    return sockets


def unix_socket_path(run_dir: Path, name: str) -> Path:
    """A Unix socket path under the data dir, short enough for sun_path (107 bytes)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / name
    if len(os.fsencode(path.resolve())) > 100:
        import tempfile

        path = Path(tempfile.mkdtemp(prefix="ossdoc-")) / name
    return path
