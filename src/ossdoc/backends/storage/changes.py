"""Change counters shared by the processes that open one store, read without a system call.

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
import zlib
from collections.abc import Iterable
from pathlib import Path

_SIZE = 8


def map_shared(path: Path, size: int) -> tuple[int, mmap.mmap]:
    """Open (or create, zeroed) ``path`` of at least ``size`` bytes, mapped shared: its descriptor
    and map. The blocks are allocated now: a store to a hole of a mapped file on a full disk would
    kill the process (SIGBUS), so a full disk fails here instead, at opening, with an error."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.posix_fallocate(fd, 0, size)  # zeros; growing a file another process made is harmless
        return fd, mmap.mmap(fd, size)
    except BaseException:
        os.close(fd)
        raise


class ChangeCounter:
    def __init__(self, path: Path) -> None:
        self._fd, self._map = map_shared(path, _SIZE)

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


class KeyVersions:
    """A version per key, shared by the processes that open one store, so that each can cache the
    object records (and small bodies) it reads: a seqlock per slot of a hashed table.

    A key's slot is odd while a transaction that changes its row may be committing: the committer
    makes every touched slot odd (changed) before COMMIT and even (changed again) after it, all under
    the commit lock, so no two processes bump at once. A reader reads the slot *before* it reads the
    row and caches the row only under an even version; a cached row is used only while its slot
    still holds that version. So no read returns a row older than the last commit that finished
    before the read began (a commit between the slot read and the row read makes the row newer, and
    changes the slot). A writer that dies between its two bumps leaves its slots odd: those keys are
    not cached until the next write to them, whose first bump moves the slot on to the next odd.

    Keys that share a slot only invalidate each other. The file needs no fsync: after a crash every
    process starts with an empty cache."""

    SLOTS = 1 << 16

    def __init__(self, path: Path) -> None:
        self._fd, self._map = map_shared(path, self.SLOTS * 8)
        # Aligned 8-byte loads and stores: a reader never sees half a version.
        self._slots = memoryview(self._map).cast("Q")

    @classmethod
    def slot(cls, bucket: str, key: bytes) -> int:
        return zlib.crc32(key, zlib.crc32(bucket.encode())) & (cls.SLOTS - 1)

    def version(self, slot: int) -> int:
        value: int = self._slots[slot]
        return value

    def begin(self, slots: Iterable[int]) -> None:
        """Before a commit that may change these slots' rows, holding the commit lock: make each odd."""
        table = self._slots
        for slot in slots:
            value = table[slot]
            table[slot] = (value + 2 if value & 1 else value + 1) % 2**64

    def end(self, slots: Iterable[int]) -> None:
        """After that commit (or its failure), still holding the lock: make each even again."""
        table = self._slots
        for slot in slots:
            value = table[slot]
            if value & 1:
                table[slot] = (value + 1) % 2**64

    def close(self) -> None:
        self._slots.release()
        self._map.close()
        os.close(self._fd)
