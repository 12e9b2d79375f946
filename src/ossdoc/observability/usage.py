"""Usage totals per access key (requests, model tokens in and out, bytes), in ``<data>/usage.sqlite3``.

Each worker process adds to its own tally in memory (a dict update per request) and folds it into
the shared file at most once a second, off the event loop, with ``requests = requests + ?`` so
workers never overwrite each other. A reader therefore sees every worker's totals at most about a
second late, and its own exactly (``totals`` flushes first)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE = "usage.sqlite3"
FIELDS = ("requests", "input_tokens", "output_tokens", "bytes_in", "bytes_out")
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS usage (
    key_id TEXT PRIMARY KEY,
    {", ".join(f"{name} INTEGER NOT NULL DEFAULT 0" for name in FIELDS)},
    updated REAL NOT NULL DEFAULT 0
)"""
_FLUSH_SECONDS = 1.0


@dataclass
class Tally:
    """One request's model tokens, filled in by the generation it ran (see ``add_tokens``)."""

    input_tokens: int = 0
    output_tokens: int = 0


current: ContextVar[Tally | None] = ContextVar("ossdoc_usage_tally", default=None)


def add_tokens(input_tokens: int, output_tokens: int) -> None:
    tally = current.get()
    if tally is not None:
        tally.input_tokens += input_tokens
        tally.output_tokens += output_tokens


class UsageStore:
    def __init__(self, data: Path) -> None:
        self.path = data / FILE
        self._pending: dict[str, list[int]] = {}
        self._lock = threading.Lock()  # one writer at a time
        self._swap = threading.Lock()
        self._flushed = time.monotonic()
        self._flushing = False
        self._db: sqlite3.Connection | None = None

    def add(self, key_id: str, values: tuple[int, int, int, int, int]) -> None:
        """Count one request of ``key_id``: (1, input tokens, output tokens, bytes in, bytes out)."""
        with self._swap:  # uncontended but for the instant a flush takes the tally
            row = self._pending.get(key_id)
            if row is None:
                self._pending[key_id] = list(values)
            else:
                for i, value in enumerate(values):
                    row[i] += value
        if not self._flushing and time.monotonic() - self._flushed > _FLUSH_SECONDS:
            self._flushing = True
            try:
                asyncio.get_running_loop().run_in_executor(None, self.flush)
            except RuntimeError:  # no loop: flush here
                self.flush()

    def flush(self) -> None:
        with self._lock:
            try:
                with self._swap:
                    pending, self._pending = self._pending, {}
                if pending:
                    self._write(pending)
            finally:
                self._flushed = time.monotonic()
                self._flushing = False

    def totals(self) -> list[dict[str, Any]]:
        """Every key's totals, this process's latest requests included."""
        self.flush()
        return totals(self.path.parent)

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _write(self, pending: dict[str, list[int]]) -> None:
        if self._db is None:
            self._db = _connect(self.path)
        now = time.time()
        sets = ", ".join(f"{name} = {name} + excluded.{name}" for name in FIELDS)
        with self._db:
            self._db.executemany(
                f"INSERT INTO usage (key_id, {', '.join(FIELDS)}, updated) VALUES (?, ?, ?, ?, ?, ?, ?) "
                f"ON CONFLICT (key_id) DO UPDATE SET {sets}, updated = excluded.updated",
                [(key, *row, now) for key, row in pending.items()],
            )


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=10, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # totals, not acknowledged writes: a power cut may lose 1 s
    db.execute(_SCHEMA)
    db.isolation_level = "DEFERRED"
    return db


def totals(data: Path) -> list[dict[str, Any]]:
    """Usage totals per access key in data dir ``data`` (for /-/usage and the console)."""
    path = data / FILE
    if not path.exists():
        return []
    db = _connect(path)
    try:
        rows = db.execute(
            f"SELECT key_id, {', '.join(FIELDS)}, updated FROM usage ORDER BY key_id"
        ).fetchall()
    finally:
        db.close()
    names = ("AccessKeyId", "Requests", "InputTokens", "OutputTokens", "BytesIn", "BytesOut", "Updated")
    return [dict(zip(names, row, strict=True)) for row in rows]
