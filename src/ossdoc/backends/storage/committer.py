"""Group commit: every write transaction of a LocalStorage runs on one thread, many to a transaction.

A request hands its change to ``run`` as a function of the connection and waits. The thread takes
whatever has queued up since its last commit, runs each change in a savepoint of its own (a change
that raises rolls back alone and gets its exception back), and commits once. No waiting for
company: the batch is what arrived during the last commit, so a lone write pays nothing extra.

With fsync on, a change is answered only once the WAL holding it is on disk, small object bodies
included (they live in the database). The fsync is not SQLite's (synchronous=FULL would hold the
write lock through it, so the workers of one machine would fsync one after another, 4 ms each on
this disk): the connection commits with synchronous=NORMAL, and a second thread fdatasyncs the WAL
file after the lock is released. While it does, the commit thread commits the next batches, and
other processes commit and fsync theirs; one fdatasync then makes everything committed before it
durable, as a WAL is written in order, whichever process committed it: the processes of one store
share a ledger of commits made durable (``_Ledger``), so one fsync answers the writes of all of
them. What a crash or power cut keeps is therefore a prefix of the
commits, every answered one among them. A reader may see a change up to one fsync before it is
durable and answered, as it may see any write in flight; a power cut then loses only changes that
were never answered.

Writers of several processes take a file lock around their transaction: SQLite's own busy handler
sleeps in steps of milliseconds, a blocked ``flock`` wakes as soon as the lock is free."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ossdoc.backends.storage import sqlite_meta as sql
from ossdoc.backends.storage.changes import KeyVersions, map_shared

T = TypeVar("T")
Change = Callable[[sqlite3.Connection], Any]
# Most changes in one transaction: bounds the time a batch holds the lock other processes wait for.
MAX_BATCH = 256


class _Job:
    __slots__ = ("change", "committed", "done", "error", "result")

    def __init__(
        self, change: Change, done: Callable[[_Job], None], committed: Callable[[], None] | None = None
    ) -> None:
        self.change = change
        self.done = done
        self.committed = committed
        self.result: Any = None
        self.error: BaseException | None = None


class Committer:
    def __init__(
        self,
        db_path: Path,
        lock_path: Path,
        durable: bool,
        versions: KeyVersions | None = None,
        *,
        alone: bool = False,
    ) -> None:
        """``alone``: no other process has the store open (the shared ledger starts afresh)."""
        self.db = sql.connect(db_path)  # synchronous=NORMAL: the WAL is fsynced by _Syncer
        self._versions = versions
        self._touched: set[int] = set()  # slots of the object rows changed since the last commit
        if versions is not None:
            _watch_objects(self.db, self._touched)
        self._lock = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.commits = 0  # transactions committed, read by the maintenance thread
        self.changes = 0
        self._ledger = _Ledger(Path(f"{db_path}-sync"), alone) if durable else None
        self._syncer = _Syncer(Path(f"{db_path}-wal"), self._ledger) if self._ledger is not None else None
        self._thread = threading.Thread(target=self._run, name="ossdoc-commit", daemon=True)
        self._thread.start()

    async def run(
        self, change: Callable[[sqlite3.Connection], T], committed: Callable[[], None] | None = None
    ) -> T:
        """Run ``change`` in the next transaction; its result once that transaction is committed.
        ``committed`` is called on the commit thread as soon as it is, before anyone is told.

        A change cannot be taken back once queued, so a cancelled caller still waits for its
        transaction to end before the cancellation propagates: the clean-up that follows (deleting
        a staged blob) must know whether the blob now belongs to an object."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def done(job: _Job) -> None:
            # On the commit thread: hand back to the loop (which may be closing at shutdown).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future)

        job = _Job(change, done, committed)
        self._queue.put(job)
        cancelled = False
        while not future.done():
            try:
                await asyncio.shield(future)
            except asyncio.CancelledError:
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError
        if job.error is not None:
            raise job.error
        result: T = job.result
        return result

    def run_sync(self, change: Callable[[sqlite3.Connection], T]) -> T:
        """``run`` from a thread other than the commit thread (maintenance)."""
        finished = threading.Event()
        job = _Job(change, lambda _: finished.set())
        self._queue.put(job)
        finished.wait()
        if job.error is not None:
            raise job.error
        result: T = job.result
        return result

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                batch.append(job)
            number = self._commit(batch)
            if number is not None and self._syncer is not None:
                self._syncer.add(number, batch)
            else:
                for job in batch:
                    job.done(job)
            if stop:
                break
        if self._syncer is not None:
            self._syncer.close()
        if self._ledger is not None:
            self._ledger.close()
        self.db.close()
        os.close(self._lock)

    def _commit(self, batch: list[_Job]) -> int | None:
        """Run ``batch`` in one transaction; its number in the ledger (0 without one), None when
        nothing was committed."""
        db = self.db
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                for job in batch:
                    db.execute("SAVEPOINT change")
                    try:
                        job.result = job.change(db)
                    except Exception as exc:
                        job.error = exc
                        db.execute("ROLLBACK TO change")
                    db.execute("RELEASE change")
                touched = list(self._touched)
                self._touched.clear()
                if self._versions is not None:
                    self._versions.begin(touched)
                try:
                    db.execute("COMMIT")
                finally:
                    if self._versions is not None:
                        self._versions.end(touched)
            except Exception as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                for job in batch:
                    job.error, job.result = job.error or exc, None
                return None
            number = 0 if self._ledger is None else self._ledger.count_commit()
        except Exception as exc:  # BEGIN itself failed (database unreadable, disk full)
            for job in batch:
                job.error = exc
            return None
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
        self.commits += 1
        self.changes += len(batch)
        for job in batch:
            if job.error is None and job.committed is not None:
                job.committed()
        return number

    def close(self) -> None:
        """Commit what is queued, then stop; blocking."""
        self._queue.put(None)
        self._thread.join()


def _watch_objects(db: sqlite3.Connection, touched: set[int]) -> None:
    """Collect into ``touched`` the version slots of every object row that ``db`` inserts, updates or
    deletes: temporary triggers (this connection's own) see every change, whatever code made it."""
    db.create_function("ossdoc_touched", 2, lambda bucket, key: touched.add(KeyVersions.slot(bucket, key)))
    for event, rows in (("INSERT", ("new",)), ("UPDATE", ("old", "new")), ("DELETE", ("old",))):
        calls = " ".join(f"SELECT ossdoc_touched({row}.bucket, {row}.key);" for row in rows)
        db.execute(
            f"CREATE TEMP TRIGGER IF NOT EXISTS ossdoc_objects_{event.lower()} "
            f"AFTER {event} ON main.objects BEGIN {calls} END"
        )


class _Ledger:
    """Two numbers shared by the processes that open one store, in a memory-mapped file: how many
    transactions were committed (counted under the commit lock, right after each COMMIT), and up to
    which of them the WAL is known to be on disk. An fdatasync of the WAL makes durable every
    transaction committed before it began, whichever process wrote it (the file's pages are the
    kernel's, not the process's), so a process whose transactions another process's fsync covered
    answers them without one of its own. Syncers take turns under a file lock on the ledger.

    The numbers mean something only while processes have the store open: the first process to open
    it starts them afresh, so the file needs no fsync."""

    def __init__(self, path: Path, reset: bool) -> None:
        self.fd, self._map = map_shared(path, 16)
        self._values = memoryview(self._map).cast("Q")  # [committed, durable]; aligned 8-byte words
        if reset:
            self._values[0] = self._values[1] = 0

    def count_commit(self) -> int:
        """Number the transaction just committed; call holding the commit lock."""
        number: int = self._values[0] + 1
        self._values[0] = number
        return number

    @property
    def committed(self) -> int:
        value: int = self._values[0]
        return value

    @property
    def durable(self) -> int:
        value: int = self._values[1]
        return value

    def made_durable(self, number: int) -> None:
        """Every transaction up to ``number`` is on disk; call holding the sync lock."""
        if number > self._values[1]:
            self._values[1] = number

    def close(self) -> None:
        self._values.release()
        self._map.close()
        os.close(self.fd)


class _Syncer:
    """fdatasyncs the WAL for the batches the commit thread hands over, then answers them: one
    fdatasync for every batch committed before it started, in this process or another (_Ledger).

    The descriptor stays valid: SQLite deletes a WAL file only when the last connection to the
    database closes, and this process's committer keeps one open until after ``close``."""

    def __init__(self, wal_path: Path, ledger: _Ledger) -> None:
        # The commit connection has read the database, so SQLite has created the WAL already.
        self._wal = os.open(wal_path, os.O_RDONLY | os.O_CREAT, 0o600)
        self._ledger = ledger
        self._ready = threading.Condition()
        self._batches: list[tuple[int, list[_Job]]] = []
        self._closing = False
        self.syncs = 0  # fdatasyncs made by this process
        self._thread = threading.Thread(target=self._run, name="ossdoc-fsync", daemon=True)
        self._thread.start()

    def add(self, number: int, batch: list[_Job]) -> None:
        with self._ready:
            self._batches.append((number, batch))
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._batches and not self._closing:
                    self._ready.wait()
                batches, self._batches = self._batches, []
            if not batches:
                break
            error = self._sync(max(number for number, _ in batches))
            for _, batch in batches:
                for job in batch:
                    if error is not None and job.error is None:
                        job.error, job.result = error, None
                    job.done(job)
        os.close(self._wal)

    def _sync(self, number: int) -> OSError | None:
        """Make transaction ``number`` durable, by an fdatasync of this process or of another."""
        ledger = self._ledger
        if ledger.durable >= number:
            return None
        fcntl.flock(ledger.fd, fcntl.LOCK_EX)  # while another process syncs, this one waits for it
        try:
            if ledger.durable >= number:
                return None
            covered = ledger.committed  # read before the fsync: all of these are in the WAL file
            try:
                os.fdatasync(self._wal)
            except OSError as exc:  # not durable: not answered as written (the change may survive)
                return exc
            self.syncs += 1
            ledger.made_durable(covered)
            return None
        finally:
            fcntl.flock(ledger.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Sync and answer what was handed over, then stop; blocking."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
