"""Group commit: every write transaction of a LocalStorage runs on one thread, many to a transaction.

A request hands its change to ``run`` as a function of the connection and waits. The thread takes
whatever has queued up since its last commit, runs each change in a savepoint of its own (a change
that raises rolls back alone and gets its exception back), and commits once. No waiting for
company: the batch is what arrived during the last commit, so a lone write pays nothing extra.

With fsync on, a change is answered only once the WAL holding it is on disk, small object bodies
included (they live in the database). The fsync is not SQLite's (synchronous=FULL would hold the
write lock through it, so the workers of one machine would fsync one after another, 4 ms each on
this disk): the connection commits with synchronous=NORMAL, and another thread fdatasyncs the WAL
file after the lock is released. While it does, the commit thread commits the next batches, and
other processes commit and fsync theirs; one fdatasync then makes everything committed before it
durable, as a WAL is written in order. A batch committed while an fdatasync is in flight is not
covered by it; a second thread starts the next one at once rather than after it (fsyncs of one
file run side by side: the disk's latency, 3-4 ms here under load, is paid once per write, not
about one and a half times). What a crash or power cut keeps is therefore a prefix of the
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
from ossdoc.backends.storage.changes import KeyVersions

T = TypeVar("T")
Change = Callable[[sqlite3.Connection], Any]
# Most changes in one transaction: bounds the time a batch holds the lock other processes wait for.
MAX_BATCH = 256
# fdatasyncs of the WAL in flight at once, at most: 2 took 4 KiB PUTs through two workers from 985
# to 1,169 ops/s (medians of 7 rounds each, alternating); 3 did no better than 2.
SYNC_THREADS = 2


class _Job:
    __slots__ = ("change", "committed", "done", "durable", "error", "result")

    def __init__(
        self,
        change: Change,
        done: Callable[[_Job], None],
        committed: Callable[[], None] | None = None,
        durable: bool = True,
    ) -> None:
        self.change = change
        self.done = done
        self.committed = committed
        self.durable = durable
        self.result: Any = None
        self.error: BaseException | None = None


class Committer:
    def __init__(
        self, db_path: Path, lock_path: Path, durable: bool, versions: KeyVersions | None = None
    ) -> None:
        self.db = sql.connect(db_path)  # synchronous=NORMAL: the WAL is fsynced by _Syncer
        self._versions = versions
        self._touched: set[int] = set()  # slots of the object rows changed since the last commit
        if versions is not None:
            _watch_objects(self.db, self._touched)
        self._lock = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.commits = 0  # transactions committed, read by the maintenance thread
        self.changes = 0
        self._syncer = _Syncer(Path(f"{db_path}-wal")) if durable else None
        self._thread = threading.Thread(target=self._run, name="ossdoc-commit", daemon=True)
        self._thread.start()

    async def run(
        self,
        change: Callable[[sqlite3.Connection], T],
        committed: Callable[[], None] | None = None,
        *,
        durable: bool = True,
    ) -> T:
        """Run ``change`` in the next transaction; its result once that transaction is committed (and
        with fsync on, durable). ``committed`` is called on the commit thread as soon as it is,
        before anyone is told.

        ``durable=False`` answers at the commit, before the fsync: for a change that only later
        changes depend on, which the WAL's order makes durable with them.

        A change cannot be taken back once queued, so a cancelled caller still waits for its
        transaction to end before the cancellation propagates: the clean-up that follows (deleting
        a staged blob) must know whether the blob now belongs to an object."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def done(job: _Job) -> None:
            # On the commit thread: hand back to the loop (which may be closing at shutdown).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future)

        job = _Job(change, done, committed, durable)
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
            if self._commit(batch) and self._syncer is not None:
                waiting = [job for job in batch if job.durable]
                for job in batch:
                    if not job.durable:
                        job.done(job)
                if waiting:
                    self._syncer.add(waiting)
            else:
                for job in batch:
                    job.done(job)
            if stop:
                break
        if self._syncer is not None:
            self._syncer.close()
        self.db.close()
        os.close(self._lock)

    def _commit(self, batch: list[_Job]) -> bool:
        """Run ``batch`` in one transaction; False when nothing was committed."""
        db = self.db
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                if len(batch) == 1:  # alone, a change that raises rolls the transaction back
                    batch[0].result = batch[0].change(db)
                else:
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
                return False
        except Exception as exc:  # BEGIN itself failed (database unreadable, disk full)
            for job in batch:
                job.error = exc
            return False
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
        self.commits += 1
        self.changes += len(batch)
        for job in batch:
            if job.error is None and job.committed is not None:
                job.committed()
        return True

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


class _Syncer:
    """fdatasyncs the WAL for the batches the commit thread hands over, then answers them: one
    fdatasync for every batch committed before it started.

    ``threads`` threads take the batches: while one waits for the disk, the next takes what was
    committed since. Each has a descriptor of its own: the kernel reports a failed writeback once
    per open file, so one shared descriptor would let one thread's fsync take the error and a
    concurrent one report success for pages that were never written. The descriptors stay valid:
    SQLite deletes a WAL file only when the last connection to the database closes, and this
    process's committer keeps one open until after ``close``."""

    def __init__(self, wal_path: Path, threads: int = SYNC_THREADS) -> None:
        self._ready = threading.Condition()
        self._batches: list[list[_Job]] = []
        self._closing = False
        self._threads = []
        for _ in range(threads):
            # The commit connection has read the database, so SQLite has created the WAL already.
            wal = os.open(wal_path, os.O_RDONLY | os.O_CREAT, 0o600)
            thread = threading.Thread(target=self._run, args=(wal,), name="ossdoc-fsync", daemon=True)
            self._threads.append(thread)
            thread.start()

    def add(self, batch: list[_Job]) -> None:
        with self._ready:
            self._batches.append(batch)
            self._ready.notify()

    def _run(self, wal: int) -> None:
        while True:
            with self._ready:
                while not self._batches and not self._closing:
                    self._ready.wait()
                batches, self._batches = self._batches, []
            if not batches:
                break
            error: OSError | None = None
            try:
                os.fdatasync(wal)
            except OSError as exc:  # not durable: not answered as written (the change may survive)
                error = exc
            for batch in batches:
                for job in batch:
                    if error is not None and job.error is None:
                        job.error, job.result = error, None
                    job.done(job)
        os.close(wal)

    def close(self) -> None:
        """Sync and answer what was handed over, then stop; blocking."""
        with self._ready:
            self._closing = True
            self._ready.notify_all()
        for thread in self._threads:
            thread.join()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
