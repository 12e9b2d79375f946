"""The admission count of a machine's worker processes, in a small SQLite file.

Each process has one row, the places it holds; a place is taken in an ``IMMEDIATE`` transaction
that first sums the rows, so two workers never both take the last place. A worker that dies holds
its places no longer: the supervisor deletes its row (``forget``). The file is state of the running
server, never a record: written without fsync, and emptied at start (``clear``)."""

from __future__ import annotations

import os
from pathlib import Path

from ossdoc.backends.state import open_state_db

SCHEMA = "CREATE TABLE IF NOT EXISTS places (owner INTEGER PRIMARY KEY, taken INTEGER NOT NULL)"


class SQLiteAdmission:
    def __init__(self, path: Path, owner: int | None = None) -> None:
        self._db = open_state_db(path, SCHEMA)
        self._owner = os.getpid() if owner is None else owner

    def admit(self, limit: int) -> int | None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            (taken,) = db.execute("SELECT coalesce(sum(taken), 0) FROM places").fetchone()
            if taken >= limit:
                return None
            db.execute(
                "INSERT INTO places VALUES (?, 1) ON CONFLICT (owner) DO UPDATE SET taken = taken + 1",
                (self._owner,),
            )
            return int(taken) + 1
        finally:
            db.execute("COMMIT")

    def release(self) -> None:
        self._db.execute("UPDATE places SET taken = max(0, taken - 1) WHERE owner = ?", (self._owner,))

    def taken(self) -> int:
        (taken,) = self._db.execute("SELECT coalesce(sum(taken), 0) FROM places").fetchone()
        return int(taken)

    def close(self) -> None:
        self._db.close()


def clear(path: Path) -> None:
    db = open_state_db(path, SCHEMA)
    try:
        db.execute("DELETE FROM places")
    finally:
        db.close()


def forget(path: Path, owner: int) -> None:
    db = open_state_db(path, SCHEMA)
    try:
        db.execute("DELETE FROM places WHERE owner = ?", (owner,))
    finally:
        db.close()
