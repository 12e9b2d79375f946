"""The journal of document event streams, so that a client that lost its connection can resume with
``Last-Event-ID`` on whichever worker process it reaches.

One row a stream, rewritten as the stream goes: the last event sent (every event carries the whole
text so far, so the last one is all a resuming client needs), its id, and the generation's own state
to continue from. Bounded in time (a row older than ``ttl`` is gone) and in bytes (a stream whose
row would exceed ``max_bytes`` stops being journalled and cannot be resumed). State of the running
server, never a record: written without fsync."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from ossdoc.backends.state import open_state_db

State = Literal["running", "done", "stopped"]  # stopped: its client left, it can be continued
SCHEMA = """CREATE TABLE IF NOT EXISTS streams (
    key TEXT PRIMARY KEY, owner TEXT NOT NULL, state TEXT NOT NULL, event_id INTEGER NOT NULL,
    frame BLOB NOT NULL, resume TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL)"""


@dataclass(frozen=True)
class StreamRecord:
    key: str
    owner: str  # the generation's runner: "<host>:<pid>:<random>"
    state: State
    event_id: int  # of the last event sent, -1 before the first
    frame: bytes  # that event, as sent
    resume: str  # the generation's state to continue from (the service's JSON), "" for none
    created: float
    updated: float


class Journal(Protocol):
    """The journal's operations; ``StreamJournal`` (SQLite, one machine) and ``RedisJournal``
    (replicas) implement them."""

    ttl: float
    max_bytes: int

    def get(self, key: str) -> StreamRecord | None: ...

    def begin(self, key: str, owner: str) -> None: ...

    def sent(self, key: str, owner: str, event_id: int, frame: bytes, resume: str) -> bool: ...

    def end(self, key: str, owner: str, state: State, resume: str = "") -> None: ...

    def take(self, key: str, owner: str) -> StreamRecord | None: ...

    def stop_owner(self, owner_prefix: str) -> int: ...

    def close(self) -> None: ...


class StreamJournal:
    def __init__(self, path: Path | None, *, ttl: float = 600.0, max_bytes: int = 1 << 20) -> None:
        """``path`` None: in memory, for one process."""
        self._db = open_state_db(path, SCHEMA)
        self.ttl = ttl
        self.max_bytes = max_bytes

    def get(self, key: str) -> StreamRecord | None:
        row = self._db.execute(
            "SELECT * FROM streams WHERE key = ? AND created > ?", (key, self._oldest())
        ).fetchone()
        return None if row is None else StreamRecord(*row)

    def begin(self, key: str, owner: str) -> None:
        """A new generation of ``key`` (one of an earlier request with the same key is replaced)."""
        now = time.time()
        self._db.execute("DELETE FROM streams WHERE created <= ?", (self._oldest(),))
        self._db.execute(
            "INSERT OR REPLACE INTO streams VALUES (?, ?, 'running', -1, x'', '', ?, ?)",
            (key, owner, now, now),
        )

    def sent(self, key: str, owner: str, event_id: int, frame: bytes, resume: str) -> bool:
        """Record the event just sent; False when the stream is no longer journalled (too large, or
        another owner took it)."""
        if len(frame) + len(resume.encode()) > self.max_bytes:
            self._db.execute("DELETE FROM streams WHERE key = ? AND owner = ?", (key, owner))
            return False
        changed = self._db.execute(
            "UPDATE streams SET event_id = ?, frame = ?, resume = ?, updated = ? WHERE key = ? AND owner = ?",
            (event_id, frame, resume, time.time(), key, owner),
        ).rowcount
        return changed == 1

    def end(self, key: str, owner: str, state: State, resume: str = "") -> None:
        """The stream ended: ``done`` (its last event was sent), or ``stopped`` with the state its
        generation reached (a resume continues from there)."""
        self._db.execute(
            "UPDATE streams SET state = ?, resume = CASE WHEN ? = '' THEN resume ELSE ? END, updated = ? "
            "WHERE key = ? AND owner = ?",
            (state, resume, resume, time.time(), key, owner),
        )

    def take(self, key: str, owner: str) -> StreamRecord | None:
        """Take over a stopped stream to continue it: one resuming request wins."""
        changed = self._db.execute(
            "UPDATE streams SET owner = ?, state = 'running', updated = ? "
            "WHERE key = ? AND state = 'stopped'",
            (owner, time.time(), key),
        ).rowcount
        return self.get(key) if changed == 1 else None

    def stop_owner(self, owner_prefix: str) -> int:
        """Streams whose runner is known to be dead can be continued."""
        return self._db.execute(
            "UPDATE streams SET state = 'stopped' WHERE state = 'running' AND substr(owner, 1, ?) = ?",
            (len(owner_prefix), owner_prefix),
        ).rowcount

    def close(self) -> None:
        self._db.close()

    def _oldest(self) -> float:
        return time.time() - self.ttl
