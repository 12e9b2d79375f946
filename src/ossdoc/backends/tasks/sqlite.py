"""Tasks in ``tasks.sqlite3`` in the data dir, so they survive a restart, shared by the worker
processes of the machine (a claim is one ``IMMEDIATE`` transaction, so one process gets a task).

Statements run in a worker thread: with fsync on, a commit waits for the disk, and the event loop
must not. Tasks are few (one per long document), so one connection behind a lock is plenty."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import MISSING, astuple, fields, replace
from pathlib import Path
from typing import Any

from ossdoc.backends.tasks.base import FINISHED, TaskRecord

COLUMNS = [f.name for f in fields(TaskRecord)]
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    {", ".join(f"{name} ANY" for name in COLUMNS[1:])}
) STRICT;
CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks (state, task_id);
CREATE INDEX IF NOT EXISTS tasks_by_bucket ON tasks (bucket, task_id);
"""
_FINISHED = tuple(sorted(FINISHED))


def _add_new_columns(db: sqlite3.Connection) -> None:
    """A store written by an earlier version lacks the columns added since: added with defaults."""
    have = {row[1] for row in db.execute("PRAGMA table_info(tasks)")}
    for f in fields(TaskRecord):
        if f.name not in have:
            default = f.default if f.default is not MISSING else None
            db.execute(f"ALTER TABLE tasks ADD COLUMN {f.name} ANY DEFAULT {default!r}")


class SQLiteTaskStore:
    def __init__(self, path: Path, fsync: bool = True) -> None:
        """Open (or create) the store; blocking, so async code calls ``open``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # The timeout rides out another process's commit (milliseconds, even with fsync).
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk when it returns; NORMAL: it survives a process crash.
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self._db.executescript(SCHEMA)
        _add_new_columns(self._db)
        self._lock = threading.Lock()

    @classmethod
    async def open(cls, path: Path, fsync: bool = True) -> SQLiteTaskStore:
        return await asyncio.to_thread(cls, path, fsync)

    async def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[TaskRecord]:
        def run() -> list[TaskRecord]:
            with self._lock:
                rows = self._db.execute(sql, args).fetchall()
            return [TaskRecord(*row) for row in rows]

        return await asyncio.to_thread(run)

    async def add(self, task: TaskRecord) -> None:
        marks = ", ".join("?" * len(COLUMNS))
        await self._run(f"INSERT INTO tasks ({', '.join(COLUMNS)}) VALUES ({marks})", astuple(task))

    async def get(self, task_id: str) -> TaskRecord | None:
        found = await self._run("SELECT * FROM tasks WHERE task_id = ?", (task_id,))
        return found[0] if found else None

    async def update(self, task: TaskRecord) -> None:
        assignments = ", ".join(f"{name} = ?" for name in COLUMNS[1:])
        values = astuple(task)
        await self._run(f"UPDATE tasks SET {assignments} WHERE task_id = ?", (*values[1:], values[0]))

    async def unfinished(self) -> list[TaskRecord]:
        marks = ", ".join("?" * len(_FINISHED))
        return await self._run(
            f"SELECT * FROM tasks WHERE state NOT IN ({marks}) ORDER BY task_id", _FINISHED
        )

    async def list(self, bucket: str, after: str, limit: int) -> list[TaskRecord]:
        return await self._run(
            "SELECT * FROM tasks WHERE bucket = ? AND task_id > ? ORDER BY task_id LIMIT ?",
            (bucket, after, limit),
        )

    async def prune(self, finished_before: float) -> int:
        def run() -> int:
            marks = ", ".join("?" * len(_FINISHED))
            with self._lock:
                cursor = self._db.execute(
                    f"DELETE FROM tasks WHERE state IN ({marks}) AND finished < ?",
                    (*_FINISHED, finished_before),
                )
            return cursor.rowcount

        return await asyncio.to_thread(run)

    async def _count(self, sql: str, args: tuple[Any, ...]) -> int:
        def run() -> int:
            with self._lock:
                return self._db.execute(sql, args).rowcount

        return await asyncio.to_thread(run)

    async def claim(self, owner: str, now: float, lease: float) -> TaskRecord | None:
        def run() -> TaskRecord | None:
            with self._lock:
                db = self._db
                db.execute("BEGIN IMMEDIATE")
                try:
                    row = db.execute(
                        "SELECT * FROM tasks WHERE state = 'Queued' "
                        "OR (state = 'Running' AND lease_until < ?) ORDER BY task_id LIMIT 1",
                        (now,),
                    ).fetchone()
                    if row is None:
                        return None
                    task = TaskRecord(*row)
                    db.execute(
                        "UPDATE tasks SET state = 'Running', owner = ?, lease_until = ?, started = ?, "
                        "attempts = attempts + 1 WHERE task_id = ?",
                        (owner, now + lease, now, task.task_id),
                    )
                finally:
                    db.execute("COMMIT")
            return replace(
                task,
                state="Running",
                owner=owner,
                lease_until=now + lease,
                started=now,
                attempts=task.attempts + 1,
            )

        return await asyncio.to_thread(run)

    async def renew(self, task: TaskRecord) -> bool:
        sql = (
            "UPDATE tasks SET lease_until = ?, progress_chars = ?, progress_input_tokens = ?, "
            "progress_output_tokens = ? WHERE task_id = ? AND owner = ? AND state = 'Running'"
        )
        progress = (task.progress_chars, task.progress_input_tokens, task.progress_output_tokens)
        return await self._count(sql, (task.lease_until, *progress, task.task_id, task.owner)) == 1

    async def settle(self, task: TaskRecord) -> bool:
        assignments = ", ".join(f"{name} = ?" for name in COLUMNS[1:])
        values = astuple(task)
        sql = f"UPDATE tasks SET {assignments} WHERE task_id = ? AND owner = ? AND state = 'Running'"
        return await self._count(sql, (*values[1:], task.task_id, task.owner)) == 1

    async def cancel(self, task_id: str, now: float) -> TaskRecord | None:
        await self._count(
            "UPDATE tasks SET state = 'Cancelled', finished = ? "
            "WHERE task_id = ? AND state IN ('Queued', 'Running')",
            (now, task_id),
        )
        return await self.get(task_id)

    async def expire(self, owner_prefix: str = "") -> int:
        return await self._count(
            "UPDATE tasks SET lease_until = 0 WHERE state = 'Running' AND substr(owner, 1, ?) = ?",
            (len(owner_prefix), owner_prefix),
        )

    async def close(self) -> None:
        def run() -> None:
            with self._lock:
                self._db.close()

        await asyncio.to_thread(run)


def expire_leases(path: Path, owner_prefix: str = "") -> int:
    """``SQLiteTaskStore.expire`` for a process with no event loop (the supervisor)."""
    if not path.exists():
        return 0
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        sql = "UPDATE tasks SET lease_until = 0 WHERE state = 'Running' AND substr(owner, 1, ?) = ?"
        return db.execute(sql, (len(owner_prefix), owner_prefix)).rowcount
    except sqlite3.OperationalError:  # a store of an earlier version: no leases to end
        return 0
    finally:
        db.close()
