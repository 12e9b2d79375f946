"""Which processes have a LocalStorage root open, so that opening one never sweeps what another uses.

Every open store holds a shared lock on ``store.lock`` and an exclusive lock on the lock file of its
own staging directory ``tmp/<owner>/`` for as long as it lives; the kernel drops both when the
process dies, however it dies. Opening takes ``open.lock`` so that two openers do not interleave,
then:

- if it can lock ``store.lock`` exclusively, no other process has the store open: it may recover
  everything (every staging directory, blob files no row references, garbage past or not);
- else it deletes only the staging directories whose owner is dead (their lock is free), and leaves
  the rest to the first process that opens the store alone (``ossdoc serve`` restarted)."""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
from pathlib import Path


def _lock(path: Path, mode: int) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _try_lock(path: Path, mode: int) -> int | None:
    try:
        return _lock(path, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return None


class Presence:
    def __init__(self, root: Path) -> None:
        """Blocking: waits for another process that is opening the store."""
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._opening: int | None = _lock(root / "open.lock", fcntl.LOCK_EX)
        try:
            alone = _try_lock(root / "store.lock", fcntl.LOCK_EX)
            self.alone = alone is not None
            if alone is None:
                self._store = _lock(root / "store.lock", fcntl.LOCK_SH)
                self._sweep_dead_owners()
            else:
                for path in self.tmp.iterdir():
                    _remove(path)
                # Downgraded only after the recovery (``opened``): flock's conversion is not atomic,
                # and the open lock keeps other openers out meanwhile.
                self._store = alone
            self.owner = f"{os.getpid()}.{secrets.token_hex(4)}"
            self._own = _lock(self.tmp / f"{self.owner}.lock", fcntl.LOCK_EX)
            self.staging = self.tmp / self.owner
            self.staging.mkdir()
        except BaseException:
            self.close()
            raise

    def opened(self) -> None:
        """Recovery is done: let other processes open the store alongside."""
        if self._opening is not None:
            if self.alone:
                fcntl.flock(self._store, fcntl.LOCK_SH)
            os.close(self._opening)
            self._opening = None

    def _sweep_dead_owners(self) -> None:
        for lock in self.tmp.glob("*.lock"):
            fd = _try_lock(lock, fcntl.LOCK_EX)
            if fd is None:
                continue  # its owner lives
            try:
                _remove(lock.with_suffix(""))
                lock.unlink(missing_ok=True)
            finally:
                os.close(fd)
        for path in self.tmp.iterdir():
            # A staging directory without a lock file: its owner died between the two removals.
            if not path.name.endswith(".lock") and not path.with_name(path.name + ".lock").exists():
                _remove(path)

    def close(self) -> None:
        """Blocking. Removes the own staging directory (empty unless a write is being abandoned)."""
        if hasattr(self, "_own"):
            _remove(self.staging)
            (self.tmp / f"{self.owner}.lock").unlink(missing_ok=True)
            os.close(self._own)
            del self._own
        if hasattr(self, "_store"):
            os.close(self._store)
            del self._store
        if self._opening is not None:
            os.close(self._opening)
            self._opening = None


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
