"""A change counter shared by the processes that open one store, read without a system call.

A process caches something it reads on every request (a bucket's record) together with the counter's
value read *before* it looked; a process that changes that thing bumps the counter *after* its
change is committed. A cached entry is then used only while the counter is unchanged, so it is never
older than the last change committed before it was read. The counter lives in a memory-mapped file:
reading it is a load from memory, against a SQLite read of about 15-60 µs (a read transaction that
follows another process's commit rebuilds its snapshot, more slowly the longer the WAL).

The file needs no fsync: after a crash every process starts with an empty cache."""

from __future__ import annotations

import fcntl
import mmap
import os
from pathlib import Path

_SIZE = 8


class ChangeCounter:
    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(self._fd).st_size < _SIZE:
                os.ftruncate(self._fd, _SIZE)  # zeros; growing a file another process made is harmless
            self._map = mmap.mmap(self._fd, _SIZE)
        except BaseException:
            os.close(self._fd)
            raise

    def value(self) -> int:
        return int.from_bytes(self._map[:_SIZE], "little")

    def bump(self) -> None:
        """Count one change; the file lock keeps increments of several processes from being lost."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            self._map[:_SIZE] = ((self.value() + 1) % 2**64).to_bytes(_SIZE, "little")
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)
