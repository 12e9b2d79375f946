"""Tasks in ``tasks.sqlite3`` in the data dir, so they survive a restart.

Statements run in a worker thread: with fsync on, a commit waits for the disk, and the event loop
must not. Tasks are few (one per long document), so one connection behind a lock is plenty."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import astuple, fields
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


class SQLiteTaskStore:
    def __init__(self, path: Path, fsync: bool = True) -> None:
        """Open (or create) the store; blocking, so async code calls ``open``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk when it returns; NORMAL: it survives a process crash.
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self._db.executescript(SCHEMA)
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

    async def close(self) -> None:
        def run() -> None:
            with self._lock:
                self._db.close()

        await asyncio.to_thread(run)
