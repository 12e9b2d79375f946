"""Background upkeep of a LocalStorage, on a thread of its own: WAL checkpoints, deleting garbage
blobs once their grace has passed, and compaction of the database.

Compaction gives the pages that deleted small bodies held back to the filesystem
(``PRAGMA incremental_vacuum``: SQLite moves pages from the end of the file into free ones and
truncates it), in steps of COMPACT_STEP pages, each one transaction of the committer: readers in any
process go on reading meanwhile, and a crash inside a step rolls it back like any transaction. Free
pages are reused by new writes anyway; compaction runs once they are both many and a large share of
the file."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ossdoc.backends.storage import sqlite_meta as sql
from ossdoc.backends.storage.committer import Committer

log = logging.getLogger("ossdoc.storage")
MiB = 1024 * 1024
# Changes between two WAL checkpoints.
CHECKPOINT_EVERY = 1000
# Garbage deleted per transaction.
COLLECT_BATCH = 1000
COMPACT_STEP = 256  # pages (1 MiB)


@dataclass
class Tuning:
    grace: float = 5.0  # seconds a released blob stays readable by whoever found its old record
    interval: float = 0.5  # seconds between two rounds of upkeep
    compact_bytes: int = 16 * 1024 * 1024  # compact once this much of the database is free ...
    compact_share: float = 0.25  # ... and that is this share of it


@dataclass(frozen=True)
class Compaction:
    pages_before: int
    pages_after: int
    seconds: float


def is_inline(blob_id: str) -> bool:
    return blob_id.startswith("i")


def inline_key(blob_id: str) -> int:
    return int(blob_id[1:], 16)


def inline_id(key: int) -> str:
    return f"i{key:x}"


class Maintenance:
    def __init__(
        self,
        db_path: Path,
        committer: Committer,
        blob_path: Callable[[str], Path],
        tuning: Tuning,
    ) -> None:
        self.db_path = db_path
        self.db = sql.connect(db_path)
        self.committer = committer
        self.blob_path = blob_path
        self.tuning = tuning
        self.page_size = int(self.db.execute("PRAGMA page_size").fetchone()[0])
        self.compactions: list[Compaction] = []
        self._checkpointed = 0  # changes at the last checkpoint
        self.checkpoints = 0
        self._round = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ossdoc-maintenance", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.tuning.interval):
            # Upkeep must outlive its failures (a full disk, a busy database): it is retried next round.
            with contextlib.suppress(Exception):
                self.step()

    def step(self, grace: float | None = None, compact: bool = False) -> None:
        """One round; ``grace`` 0 deletes all garbage now, ``compact`` compacts whatever is free."""
        with self._round:
            if self.committer.changes - self._checkpointed >= CHECKPOINT_EVERY:
                self._checkpointed = self.committer.changes
                self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self.checkpoints += 1
            while self.collect(self.tuning.grace if grace is None else grace) == COLLECT_BATCH:
                pass
            free, total = self.pages()
            enough = free * self.page_size >= self.tuning.compact_bytes
            if free and (compact or (enough and free >= total * self.tuning.compact_share)):
                done = self.compact()
                log.info(
                    "compacted the object database from %.1f to %.1f MiB in %.3f s",
                    done.pages_before * self.page_size / MiB,
                    done.pages_after * self.page_size / MiB,
                    done.seconds,
                )

    def collect(self, grace: float) -> int:
        """Delete up to COLLECT_BATCH blobs released more than ``grace`` seconds ago; how many.

        Files go first and their rows after, so a crash between leaves rows whose files are gone
        (deleted again harmlessly), never files nothing points to."""
        rows = self.db.execute(
            "SELECT blob_id FROM garbage WHERE dead <= ? LIMIT ?", (time.time() - grace, COLLECT_BATCH)
        ).fetchall()
        ids = [blob_id for (blob_id,) in rows]
        for blob_id in ids:
            if not is_inline(blob_id):
                with contextlib.suppress(OSError):
                    self.blob_path(blob_id).unlink(missing_ok=True)
        if ids:
            self.committer.run_sync(lambda db: forget(db, ids))
        return len(ids)

    def pages(self) -> tuple[int, int]:
        (free,) = self.db.execute("PRAGMA freelist_count").fetchone()
        (total,) = self.db.execute("PRAGMA page_count").fetchone()
        return int(free), int(total)

    def compact(self) -> Compaction:
        start, (_, before) = time.perf_counter(), self.pages()
        while self.committer.run_sync(_vacuum_step):
            pass
        compaction = Compaction(before, self.pages()[1], time.perf_counter() - start)
        self.compactions.append(compaction)
        return compaction

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.db.close()


def forget(db: sqlite3.Connection, ids: list[str]) -> None:
    """Delete the rows of collected garbage (and the bodies of inline ones)."""
    db.executemany("DELETE FROM garbage WHERE blob_id = ?", [(blob_id,) for blob_id in ids])
    db.executemany("DELETE FROM inline_blobs WHERE id = ?", [(inline_key(b),) for b in ids if is_inline(b)])


def _vacuum_step(db: sqlite3.Connection) -> bool:
    """Give back up to COMPACT_STEP free pages; whether some are left to give back."""
    (before,) = db.execute("PRAGMA freelist_count").fetchone()
    db.execute(f"PRAGMA incremental_vacuum({COMPACT_STEP})").fetchall()
    (after,) = db.execute("PRAGMA freelist_count").fetchone()
    return bool(after) and after < before  # a database without auto_vacuum gives nothing back
