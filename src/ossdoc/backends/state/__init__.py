"""State the worker processes of one machine share, kept in the data dir."""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
from pathlib import Path

_owner: tuple[int, str] | None = None


def process_owner() -> str:
    """This process's name in shared state (task leases, stream journals): host and pid, so the
    supervisor can release what a dead worker held, and a random part, so a reused pid is another
    owner. Computed again in a forked child."""
    global _owner
    if _owner is None or _owner[0] != os.getpid():
        _owner = (os.getpid(), f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}")
    return _owner[1]


def owner_prefix(pid: int | None = None) -> str:
    """The prefix of every owner name of process ``pid`` on this host (None: of any process)."""
    return f"{socket.gethostname()}:" if pid is None else f"{socket.gethostname()}:{pid}:"


def open_state_db(path: Path | None, schema: str) -> sqlite3.Connection:
    """A SQLite file of running-server state (``path`` None: in memory, for one process). WAL, and no
    fsync: it is the state of the processes running now, never a record. Transactions last
    microseconds; the timeout only rides out another process's commit."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(
        ":memory:" if path is None else path, isolation_level=None, check_same_thread=False, timeout=10
    )
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute(schema)
    return db
