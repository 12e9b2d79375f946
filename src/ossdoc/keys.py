"""Access key pairs: the environment's pair, and the key store ``<data>/keys.json`` that every
server process shares.

``ossdoc keys create|revoke`` rewrite the store atomically (temporary file, fsync, rename) under an
exclusive lock, so concurrent writers never lose each other's keys and a crash leaves the old or the
new file whole. Readers never lock: each write then increments a
counter in ``keys.gen``, which every reader keeps memory-mapped and reads at each lookup, reloading
the file when it moved; so a key created or revoked is seen by every worker process on its next
request, for the cost of a memory read."""

from __future__ import annotations

import fcntl
import json
import logging
import mmap
import os
import secrets
import string
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

KEYS_FILE = "keys.json"
_LOCK_FILE = "keys.lock"
_GENERATION_FILE = "keys.gen"
_COUNTER = struct.Struct("<Q")
_RECHECK_SECONDS = 1.0
_ALPHABET = string.ascii_letters + string.digits
log = logging.getLogger("ossdoc.keys")


@dataclass(frozen=True)
class AccessKey:
    id: str
    secret: str
    created: float = 0.0  # seconds since the epoch; 0 for the environment's pair
    description: str = ""
    # Document processing quotas a minute (ossdoc keys quota); None: the server's default.
    rpm: int | None = None
    tpm: int | None = None


class KeyError_(ValueError):
    """A key operation the store refuses (unknown key, the last key, the environment's key)."""


class KeyRing:
    """The KeyStore the signature checks consult: the environment's pair, then the keys file."""

    def __init__(self, data_dir: Path, env_key: AccessKey | None = None) -> None:
        self.path = data_dir / KEYS_FILE
        self.env_key = env_key
        self._seen: tuple[int, int, int, int] | None = None
        self._stored: dict[str, AccessKey] = {}
        self._generation: Generation | None = None
        self._last = (-1, 0.0)  # the generation seen, and when the file was last checked

    @classmethod
    def fixed(cls, keys: list[AccessKey]) -> KeyRing:
        """A ring of these keys only, for tests and embedding (no keys file is read)."""
        ring = cls(Path("/nonexistent-ossdoc-keys"))
        ring._stored = {key.id: key for key in keys}
        ring._current = lambda: ring._stored  # type: ignore[method-assign]
        return ring

    def quota(self, access_key_id: str, default_rpm: int, default_tpm: int) -> tuple[int, int]:
        """The requests and tokens a minute ``access_key_id`` may use (0: unlimited)."""
        key = self._current().get(access_key_id)
        if key is None:
            return default_rpm, default_tpm
        rpm = default_rpm if key.rpm is None else key.rpm
        return rpm, default_tpm if key.tpm is None else key.tpm

    def secret_for(self, access_key_id: str) -> str | None:
        if self.env_key is not None and access_key_id == self.env_key.id:
            return self.env_key.secret
        key = self._current().get(access_key_id)
        return None if key is None else key.secret

    @property
    def keys(self) -> list[AccessKey]:
        """Every key accepted now, the environment's first."""
        env = [self.env_key] if self.env_key is not None else []
        return env + list(self._current().values())

    def _current(self) -> dict[str, AccessKey]:
        if self._generation is None:
            self._generation = Generation.open(self.path.parent)
        generation = self._generation.value() if self._generation is not None else -1
        now = time.monotonic()
        # A changed generation means a writer replaced the file; a stat once a second also catches
        # a writer that died between its rename and its increment, and hand edits.
        if generation == self._last[0] and now - self._last[1] < _RECHECK_SECONDS:
            return self._stored
        self._last = (generation, now)
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._stored = None, {}
            return self._stored
        seen = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
        if seen != self._seen:
            try:
                self._stored = {key.id: key for key in read(self.path)}
            except (OSError, ValueError) as exc:
                # Keep serving the keys last read; writes are atomic, so only a hand edit gets here.
                log.error("cannot read %s, keeping the keys read before: %s", self.path, exc)
            self._seen = seen
        return self._stored


class Generation:
    """A counter in ``<data>/keys.gen`` that every write of the keys file increments, mapped into each
    reader's memory: noticing a change costs a memory read (~0.3 µs) where a stat costs ~10 µs."""

    def __init__(self, fd: int) -> None:
        self._map = mmap.mmap(fd, 8)
        os.close(fd)

    @classmethod
    def open(cls, data_dir: Path) -> Generation | None:
        try:
            fd = os.open(data_dir / _GENERATION_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return None  # a read-only data dir: the once-a-second stat alone
        if os.fstat(fd).st_size < 8:
            os.ftruncate(fd, 8)  # zeros; a racing creator's truncate to the same size keeps them
        return cls(fd)

    def value(self) -> int:
        return int(_COUNTER.unpack_from(self._map, 0)[0])

    def increment(self) -> None:
        _COUNTER.pack_into(self._map, 0, self.value() + 1)


def generate(description: str = "") -> AccessKey:
    key_id = "LTAI" + "".join(secrets.choice(_ALPHABET) for _ in range(20))
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(30))
    return AccessKey(key_id, secret, time.time(), description)


def read(path: Path) -> list[AccessKey]:
    entries = json.loads(path.read_text())
    if not isinstance(entries, list):
        raise ValueError(f"{path} must hold a list of keys")
    return [
        AccessKey(
            e["id"],
            e["secret"],
            float(e.get("created", 0)),
            str(e.get("description", "")),
            _limit(e.get("rpm")),
            _limit(e.get("tpm")),
        )
        for e in entries
    ]


def _limit(value: object) -> int | None:
    return None if value is None else int(str(value))


def stored_keys(data_dir: Path) -> list[AccessKey]:
    path = data_dir / KEYS_FILE
    return read(path) if path.exists() else []


def create(
    data_dir: Path, description: str = "", rpm: int | None = None, tpm: int | None = None
) -> AccessKey:
    """A new key pair, stored at once (every server process accepts it from its next request)."""
    key = replace(generate(description), rpm=rpm, tpm=tpm)
    with _locked(data_dir):
        _write(data_dir, [*stored_keys(data_dir), key])
    return key


def set_quota(data_dir: Path, key_id: str, rpm: int | None, tpm: int | None) -> AccessKey:
    """Set a stored key's quotas (None: leave that one as it is; -1: back to the server's default);
    every server process applies them from its next request."""
    with _locked(data_dir):
        keys = stored_keys(data_dir)
        found = next((key for key in keys if key.id == key_id), None)
        if found is None:
            raise KeyError_(f"no key {key_id!r} in {data_dir / KEYS_FILE} (see: ossdoc keys list)")
        changed = replace(
            found,
            rpm=found.rpm if rpm is None else None if rpm < 0 else rpm,
            tpm=found.tpm if tpm is None else None if tpm < 0 else tpm,
        )
        _write(data_dir, [changed if key.id == key_id else key for key in keys])
    return changed


def revoke(data_dir: Path, key_id: str, env_key_id: str = "") -> AccessKey:
    """Remove a key from the store; every server process refuses it from its next request."""
    if key_id and key_id == env_key_id:
        raise KeyError_(f"{key_id} comes from OSSDOC_ACCESS_KEY_ID: unset it and restart the server")
    with _locked(data_dir):
        keys = stored_keys(data_dir)
        kept = [key for key in keys if key.id != key_id]
        if len(kept) == len(keys):
            raise KeyError_(f"no key {key_id!r} in {data_dir / KEYS_FILE} (see: ossdoc keys list)")
        if not kept and not env_key_id:
            raise KeyError_(f"{key_id} is the last key: create another first (ossdoc keys create)")
        _write(data_dir, kept)
    return next(key for key in keys if key.id == key_id)


def load_or_create(data_dir: Path, key_id: str = "", secret: str = "") -> tuple[KeyRing, AccessKey | None]:
    """The key ring, and the key pair if it was generated just now (to be printed once).

    A pair given explicitly is accepted beside the stored keys; without one and without a keys
    file, a new pair is generated and stored with mode 0600. There is no built-in default secret."""
    if key_id and secret:
        return KeyRing(data_dir, AccessKey(key_id, secret)), None
    if key_id or secret:
        raise ValueError("OSSDOC_ACCESS_KEY_ID and OSSDOC_ACCESS_KEY_SECRET must be set together")
    data_dir.mkdir(parents=True, exist_ok=True)
    with _locked(data_dir):
        if (data_dir / KEYS_FILE).exists():
            return KeyRing(data_dir), None
        key = generate("generated at first start")
        _write(data_dir, [key])
    return KeyRing(data_dir), key


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write(data_dir: Path, keys: list[AccessKey]) -> None:
    path = data_dir / KEYS_FILE
    tmp = path.with_name(f".{KEYS_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump([_entry(key) for key in keys], fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(data_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)
    generation = Generation.open(data_dir)
    if generation is not None:
        generation.increment()  # under the writers' lock: no increment is lost


def _entry(key: AccessKey) -> dict[str, object]:
    return {name: value for name, value in asdict(key).items() if value is not None}
