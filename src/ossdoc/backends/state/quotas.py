"""The quota counts of a machine's worker processes, in a small SQLite file (``run/quotas.sqlite3``):
one row per access key and minute; a request is counted in an ``IMMEDIATE`` transaction that first
reads the row, so two workers never both take the last request of a minute. Rows of past minutes
are deleted as new minutes begin. State of the running server: written without fsync."""

from __future__ import annotations

from pathlib import Path

from ossdoc.backends.state import open_state_db

SCHEMA = """CREATE TABLE IF NOT EXISTS windows (
    key_id TEXT NOT NULL, window INTEGER NOT NULL, requests INTEGER NOT NULL, tokens INTEGER NOT NULL,
    PRIMARY KEY (key_id, window))"""


class SQLiteCounter:
    def __init__(self, path: Path | None) -> None:
        """``path`` None: in memory, for one process."""
        self._db = open_state_db(path, SCHEMA)

    def take(self, key_id: str, window: int, rpm: int, tpm: int) -> str | None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                "SELECT requests, tokens FROM windows WHERE key_id = ? AND window = ?", (key_id, window)
            ).fetchone()
            requests, tokens = row if row is not None else (0, 0)
            if rpm > 0 and requests >= rpm:
                return "requests"
            if tpm > 0 and tokens >= tpm:
                return "tokens"
            if row is None:
                db.execute("DELETE FROM windows WHERE window < ?", (window,))
            self._add(key_id, window, 1, 0)
            return None
        finally:
            db.execute("COMMIT")

    def charge(self, key_id: str, window: int, tokens: int) -> None:
        self._add(key_id, window, 0, tokens)

    def _add(self, key_id: str, window: int, requests: int, tokens: int) -> None:
        self._db.execute(
            "INSERT INTO windows VALUES (?, ?, ?, ?) ON CONFLICT (key_id, window) DO UPDATE "
            "SET requests = requests + excluded.requests, tokens = tokens + excluded.tokens",
            (key_id, window, requests, tokens),
        )

    def close(self) -> None:
        self._db.close()
