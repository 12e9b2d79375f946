"""Console sessions, kept server-side in ``<data>/console.sqlite3``.

The browser holds only a random session token, in an HttpOnly, SameSite=Strict cookie; the secret
it signed in with never leaves this process. Every worker process of one data dir reads the same
file (WAL), so a session opened through one worker is valid in all, and signing out ends it in all.
A session remembers a digest of the key pair it was opened with, and is checked against the key
ring on every request: a key revoked or given a new secret ends its sessions at once.

Tokens are stored hashed, so the file alone does not let anyone in."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SESSION_SECONDS = 12 * 3600
SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    key_digest TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires);
"""


@dataclass(frozen=True)
class Session:
    key_id: str
    key_digest: str
    csrf: str  # sent back by the page in a header on every state-changing request
    expires: float


def key_digest(key_id: str, secret: str) -> str:
    return hashlib.sha256(f"{key_id}\n{secret}".encode()).hexdigest()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def matches(session: Session, key_id: str, secret: str | None) -> bool:
    """Whether the key pair the session was opened with is still the key ring's."""
    return secret is not None and hmac.compare_digest(session.key_digest, key_digest(key_id, secret))


class SessionStore:
    def __init__(self, path: Path) -> None:
        """Open (or create) the store; blocking, so async code calls ``open``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a lost session costs a sign-in, nothing more
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    @classmethod
    async def open(cls, path: Path) -> SessionStore:
        return await asyncio.to_thread(cls, path)

    async def create(self, key_id: str, secret: str) -> tuple[str, Session]:
        """A new session for a key pair already checked; returns the cookie's token and the session."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        session = Session(
            key_id, key_digest(key_id, secret), secrets.token_urlsafe(24), now + SESSION_SECONDS
        )

        def run() -> None:
            with self._lock:
                self._db.execute("DELETE FROM sessions WHERE expires < ?", (now,))
                self._db.execute(
                    "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
                    (_hash(token), key_id, session.key_digest, session.csrf, now, session.expires),
                )

        await asyncio.to_thread(run)
        return token, session

    async def get(self, token: str) -> Session | None:
        def run() -> tuple[str, str, str, float] | None:
            with self._lock:
                row: tuple[str, str, str, float] | None = self._db.execute(
                    "SELECT key_id, key_digest, csrf, expires FROM sessions WHERE token_hash = ?",
                    (_hash(token),),
                ).fetchone()
            return row

        row = await asyncio.to_thread(run)
        if row is None or row[3] < time.time():
            return None
        return Session(*row)

    async def delete(self, token: str) -> None:
        def run() -> None:
            with self._lock:
                self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (_hash(token),))

        await asyncio.to_thread(run)

    def close(self) -> None:
        with self._lock:
            self._db.close()
