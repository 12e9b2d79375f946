"""A bounded cache of finished results: the same operation, parameters, text and model give the
stored result at once instead of running the model again.

With a file, the cache outlives the process: entries are mirrored into SQLite and loaded back at
start. The file is a cache, never a record: it is written without fsync, and a damaged or
unreadable one is started afresh."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ossdoc.services.docs.service import Progress

log = logging.getLogger("ossdoc.docs")
SCHEMA = """CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY, text TEXT NOT NULL, finish_reason TEXT NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, chunks INTEGER NOT NULL,
    used REAL NOT NULL)"""


def cache_key(operation: str, args: dict[str, object], content: str, model: str) -> str:
    material = json.dumps([operation, sorted(args.items()), model, content], ensure_ascii=False, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


class ResultCache:
    """Least-recently-used eviction once the texts held exceed ``max_bytes`` (0 disables it).
    ``path``: the SQLite file that keeps the entries across restarts (None: memory only)."""

    def __init__(self, max_bytes: int, path: Path | None = None) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[str, Progress] = OrderedDict()
        self._db = _open(path) if path is not None and max_bytes > 0 else None
        if self._db is not None:
            self._load(self._db)

    def get(self, key: str) -> Progress | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            self._write("UPDATE results SET used = ? WHERE key = ?", (time.time(), key))
        return found

    def put(self, key: str, result: Progress) -> None:
        cost = len(result.text.encode())
        if cost > self.max_bytes or key in self._entries:
            return
        self._entries[key] = result
        self.size += cost
        row = (key, result.text, result.finish_reason, result.input_tokens, result.output_tokens)
        self._write(
            "INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?)", (*row, result.chunks, time.time())
        )
        while self.size > self.max_bytes:
            old, evicted = self._entries.popitem(last=False)
            self.size -= len(evicted.text.encode())
            self._write("DELETE FROM results WHERE key = ?", (old,))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _load(self, db: sqlite3.Connection) -> None:
        from ossdoc.services.docs.service import Progress  # service.py imports this module

        rows = db.execute(
            "SELECT key, text, finish_reason, input_tokens, output_tokens, chunks FROM results ORDER BY used"
        ).fetchall()
        for key, *fields in rows:
            self._entries[key] = Progress(*fields)
            self.size += len(fields[0].encode())
        while self.size > self.max_bytes:  # the limit is lower than when they were stored
            old, evicted = self._entries.popitem(last=False)
            self.size -= len(evicted.text.encode())
            db.execute("DELETE FROM results WHERE key = ?", (old,))

    def _write(self, sql: str, args: tuple[object, ...]) -> None:
        # Microseconds: WAL without fsync, on the event loop like the object metadata.
        if self._db is not None:
            try:
                self._db.execute(sql, args)
            except sqlite3.Error as exc:  # a cache that cannot write only forgets
                log.warning("result cache: %s", exc)


def _open(path: Path) -> sqlite3.Connection | None:
    for attempt in (1, 2):
        try:
            # Opened in a worker thread at start, used on the event loop afterwards.
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            db.execute(SCHEMA)
            db.execute("SELECT count(*) FROM results").fetchone()
            return db
        except sqlite3.DatabaseError as exc:
            log.warning("result cache %s is unreadable (%s): starting afresh", path, exc)
            if attempt == 2:
                return None
            for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                stale.unlink(missing_ok=True)
    return None
