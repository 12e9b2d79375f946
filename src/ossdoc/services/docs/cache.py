"""A bounded cache of finished results: the same operation, parameters, text and model give the
stored result at once instead of running the model again.

The entries live in SQLite: with a file, the worker processes of a machine share them and they
outlive the process; without one, in memory. The file is a cache, never a record: it is written
without fsync, and a damaged or unreadable one is started afresh. Recency is a counter in the
file, so eviction is least-recently-used across every process."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ossdoc.services.docs.generation import Progress

log = logging.getLogger("ossdoc.docs")
SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY, text TEXT NOT NULL, finish_reason TEXT NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, chunks INTEGER NOT NULL,
    used INTEGER NOT NULL, bytes INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS results_by_use ON results (used);
CREATE TABLE IF NOT EXISTS totals (id INTEGER PRIMARY KEY CHECK (id = 0), bytes INTEGER, clock INTEGER);
INSERT OR IGNORE INTO totals
    VALUES (0, (SELECT coalesce(sum(bytes), 0) FROM results), (SELECT coalesce(max(used), 0) FROM results));
"""


def cache_key(operation: str, args: dict[str, object], content: str, model: str) -> str:
    material = json.dumps([operation, sorted(args.items()), model, content], ensure_ascii=False, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


class Cache(Protocol):
    """What the document service asks of a cache: ``ResultCache`` (SQLite, one machine) and
    ``RedisCache`` (replicas)."""

    max_bytes: int

    @property
    def size(self) -> int:
        """Bytes of text held."""

    def get(self, key: str) -> Progress | None: ...

    def put(self, key: str, result: Progress) -> None: ...

    def close(self) -> None: ...


class ResultCache:
    """Least-recently-used eviction once the texts held exceed ``max_bytes`` (0 disables it).
    ``path``: the SQLite file that keeps the entries across restarts and processes (None: memory)."""

    def __init__(self, max_bytes: int, path: Path | None = None) -> None:
        self.max_bytes = max_bytes
        self._db = _open(path) if max_bytes > 0 else None
        if self._db is not None:
            self._write(self._evict)  # the limit may be lower than when they were stored

    @property
    def size(self) -> int:
        """Bytes of text held."""
        if self._db is None:
            return 0
        (size,) = self._db.execute("SELECT bytes FROM totals").fetchone()
        return int(size)

    def get(self, key: str) -> Progress | None:
        if self._db is None:
            return None
        try:
            row = self._db.execute(
                "SELECT text, finish_reason, input_tokens, output_tokens, chunks FROM results WHERE key = ?",
                (key,),
            ).fetchone()
        except sqlite3.Error as exc:
            log.warning("result cache: %s", exc)
            return None
        if row is None:
            return None
        self._write(lambda db: db.execute("UPDATE results SET used = ? WHERE key = ?", (_tick(db), key)))
        return Progress(*row)

    def put(self, key: str, result: Progress) -> None:
        cost = len(result.text.encode())
        if cost > self.max_bytes:
            return

        def insert(db: sqlite3.Connection) -> None:
            row = (key, result.text, result.finish_reason, result.input_tokens, result.output_tokens)
            inserted = db.execute(
                "INSERT OR IGNORE INTO results VALUES (?,?,?,?,?,?,?,?)",
                (*row, result.chunks, _tick(db), cost),
            ).rowcount
            if inserted:
                db.execute("UPDATE totals SET bytes = bytes + ?", (cost,))
                self._evict(db)

        self._write(insert)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _evict(self, db: sqlite3.Connection) -> None:
        while True:
            (size,) = db.execute("SELECT bytes FROM totals").fetchone()
            if size <= self.max_bytes:
                return
            old = db.execute("SELECT key, bytes FROM results ORDER BY used LIMIT 1").fetchone()
            if old is None:
                db.execute("UPDATE totals SET bytes = 0")
                return
            db.execute("DELETE FROM results WHERE key = ?", (old[0],))
            db.execute("UPDATE totals SET bytes = bytes - ?", (old[1],))

    def _write(self, change: Callable[[sqlite3.Connection], object]) -> None:
        # Microseconds: WAL without fsync, on the event loop like the object metadata. A cache that
        # cannot write only forgets.
        db = self._db
        if db is None:
            return
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                change(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            log.warning("result cache: %s", exc)


def _tick(db: sqlite3.Connection) -> int:
    """The next value of the recency clock shared by every process."""
    (clock,) = db.execute("UPDATE totals SET clock = clock + 1 RETURNING clock").fetchone()
    return int(clock)


def _open(path: Path | None) -> sqlite3.Connection | None:
    for attempt in (1, 2):
        try:
            # Opened in a worker thread at start, used on the event loop afterwards.
            target = ":memory:" if path is None else path
            db = sqlite3.connect(target, isolation_level=None, check_same_thread=False, timeout=5)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            columns = {row[1] for row in db.execute("PRAGMA table_info(results)")}
            if columns and "bytes" not in columns:  # a file of an earlier version: a cache, so dropped
                db.execute("DROP TABLE results")
            db.executescript(SCHEMA)
            db.execute("SELECT count(*) FROM results").fetchone()
            return db
        except sqlite3.DatabaseError as exc:
            log.warning("result cache %s is unreadable (%s): starting afresh", path, exc)
            if attempt == 2 or path is None:
                return None
            for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                stale.unlink(missing_ok=True)
    return None
