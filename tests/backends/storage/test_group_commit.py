"""LocalStorage's small-body path: bodies in the database, writes committed in batches, released
blobs kept for a grace, compaction, and what several stores on one root see of each other."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ossdoc.backends.storage import LocalStorage, local
from ossdoc.backends.storage.base import Bucket, FileBacked, ObjectMeta, ObjectRecord
from ossdoc.backends.storage.maintenance import Tuning, inline_key, is_inline
from ossdoc.crc64 import crc64

pytestmark = pytest.mark.anyio


async def _body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _put(store: LocalStorage, key: str, *chunks: bytes) -> ObjectRecord:
    blob = await store.stage(_body(*chunks))
    return await store.commit_object(
        "b1", key, segments=[blob], etag="E", crc64=blob.crc64, object_type="Normal", meta=ObjectMeta()
    )


async def _read(store: LocalStorage, record: ObjectRecord, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.read(record, start, end)])


def _files(
    store: LocalStorage, record: ObjectRecord, start: int = 0, end: int | None = None
) -> list[tuple[Path, int, int]] | None:
    """What a server could send itself of the object's bytes: the files' paths, offsets and lengths."""
    reader = store.read(record, start, end)
    assert isinstance(reader, FileBacked)
    try:
        files = reader.files()
        return (
            None
            if files is None
            else [(Path(os.readlink(f"/proc/self/fd/{fd}")), o, n) for fd, o, n in files]
        )
    finally:
        reader.close()  # type: ignore[attr-defined]


def _blob_files(root: Path) -> set[str]:
    return {path.name for path in (root / "blobs").glob("*/*")}


@pytest.fixture(params=[True, False], ids=["fsync", "nofsync"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LocalStorage]:
    # A long grace: blobs are deleted by settle() only, when a test says so.
    opened = await LocalStorage.open(tmp_path, fsync=request.param, tuning=Tuning(grace=3600))
    await opened.create_bucket(Bucket("b1", 1.0))
    yield opened
    await opened.close()


async def test_small_bodies_live_in_the_database(store: LocalStorage) -> None:
    limit = store.inline_bytes
    small = await _put(store, "small", b"a" * 1000, b"b" * (limit - 1000))
    large = await _put(store, "large", b"c" * limit, b"d")
    assert is_inline(small.segments[0].blob_id) and not is_inline(large.segments[0].blob_id)
    assert _blob_files(store.root) == {large.segments[0].blob_id}
    assert await _read(store, small) == b"a" * 1000 + b"b" * (limit - 1000)
    assert await _read(store, small, 990, 1010) == b"a" * 10 + b"b" * 10
    assert await _read(store, large, limit - 1) == b"cd"
    assert _files(store, small) is None
    assert _files(store, large, 5, 9) == [(store.blob_path(large.segments[0].blob_id), 5, 4)]
    empty = await _put(store, "empty")
    assert empty.size == 0 and await _read(store, empty) == b""


async def test_small_bodies_staged_with_their_md5_and_crc(store: LocalStorage) -> None:
    # Small bodies are hashed in pieces shorter than 2 KiB (so hashlib keeps the GIL): sizes around
    # the pieces' edges, in one chunk or several, must give the digest of the whole.
    for size in (0, 1, 2046, 2047, 2048, 4094, 4095, 4096, 6141, store.inline_bytes):
        data = os.urandom(size)
        for chunks in ((data,), (data[:1000], data[1000:3000], data[3000:])):
            blob = await store.stage(_body(*chunks))
            assert is_inline(blob.blob_id), size
            assert (blob.size, blob.md5, blob.crc64) == (size, hashlib.md5(data).digest(), crc64(data)), size
            await store.discard(blob)


async def test_mixed_multipart_append_and_copy(store: LocalStorage) -> None:
    upload = await store.create_upload("b1", "mp", ObjectMeta())
    big = os.urandom(store.inline_bytes + 1)
    parts = [
        await store.put_part(upload, 1, await store.stage(_body(big))),
        await store.put_part(upload, 2, await store.stage(_body(b"tail"))),
    ]
    record = await store.complete_upload(upload, parts, etag="E-2", crc64=0)
    assert [is_inline(s.blob_id) for s in record.segments] == [False, True]
    assert await _read(store, record) == big + b"tail"
    assert await _read(store, record, len(big) - 2) == big[-2:] + b"tail"
    assert _files(store, record) is None

    for piece in (b"one", b"two"):
        size = (await store.get_object("b1", "log") or record).size if piece == b"two" else 0
        await store.append_object(
            "b1", "log", blob=await store.stage(_body(piece)), position=size, meta=ObjectMeta()
        )
    log = await store.get_object("b1", "log")
    assert log is not None and await _read(store, log) == b"onetwo"

    copy = await store.copy_object(record, "b1", "copy", meta=ObjectMeta())
    await store.delete_object("b1", "mp")
    await store.settle()
    assert await _read(store, copy) == big + b"tail"
    assert copy.segments[1].blob_id != record.segments[1].blob_id


async def test_concurrent_writes_share_commits(store: LocalStorage) -> None:
    before = store._committer.commits
    await asyncio.gather(*(_put(store, f"k{n}", b"x" * 4096) for n in range(64)))
    commits = store._committer.commits - before
    assert commits < 32  # 64 writes, queued while a commit runs, go in batches
    for n in range(64):
        record = await store.get_object("b1", f"k{n}")
        assert record is not None and await _read(store, record) == b"x" * 4096


async def test_a_failing_change_fails_alone(store: LocalStorage) -> None:
    def forbid(current: ObjectRecord | None) -> None:
        if current is not None:
            raise RuntimeError("exists")

    await _put(store, "taken", b"old")

    async def put(key: str) -> ObjectRecord:
        blob = await store.stage(_body(b"new"))
        try:
            return await store.commit_object(
                "b1",
                key,
                segments=[blob],
                etag="E",
                crc64=0,
                object_type="Normal",
                meta=ObjectMeta(),
                check=forbid,
            )
        except BaseException:
            await store.discard(blob)
            raise

    results = await asyncio.gather(*(put(k) for k in ("a", "taken", "b")), return_exceptions=True)
    assert isinstance(results[1], RuntimeError)
    for key, expected in (("a", b"new"), ("taken", b"old"), ("b", b"new")):
        record = await store.get_object("b1", key)
        assert record is not None and await _read(store, record) == expected


async def test_a_lone_change_that_raises_leaves_nothing_behind(store: LocalStorage) -> None:
    # Alone in its transaction, a change runs without a savepoint: its error rolls the whole back.
    def half_then_fail(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO buckets VALUES ('half', 1.0, 'private', 'Standard')")
        raise RuntimeError("after the first write")

    with pytest.raises(RuntimeError, match="after the first write"):
        await store._committer.run(half_then_fail)
    assert await store.get_bucket("half") is None
    record = await _put(store, "after", b"fine")  # the next transaction is a fresh one
    assert await _read(store, record) == b"fine"


async def test_released_blobs_stay_readable_for_their_grace(store: LocalStorage) -> None:
    small = await _put(store, "small", b"first")
    large = await _put(store, "large", os.urandom(store.inline_bytes * 2))
    await _put(store, "small", b"second")
    await store.delete_object("b1", "large")
    await asyncio.to_thread(store._maintenance.step)  # a round of upkeep: the grace is an hour
    assert await _read(store, small) == b"first"
    assert len(await _read(store, large)) == large.size
    await store.settle()  # everything released, whatever its grace
    with pytest.raises(Exception) as info:
        store.read(small)
    assert getattr(info.value, "code", None) == "NoSuchKey"
    assert _blob_files(store.root) == set()
    assert store.db.execute("SELECT count(*) FROM garbage").fetchone() == (0,)


async def test_cancelled_commit_keeps_what_it_committed(store: LocalStorage) -> None:
    blobs = [await store.stage(_body(data)) for data in (b"small", os.urandom(store.inline_bytes + 1))]

    async def commit() -> None:
        try:
            await store.commit_object(
                "b1", "k", segments=blobs, etag="E", crc64=0, object_type="Normal", meta=ObjectMeta()
            )
        except BaseException:
            for blob in blobs:
                await store.discard(blob)  # what the object service does
            raise

    task = asyncio.ensure_future(commit())
    await asyncio.sleep(0)  # queued on the committer
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = await store.get_object("b1", "k")
    if record is not None:  # committed before the cancellation: its blobs must all be there
        assert (await _read(store, record))[:5] == b"small"
        assert store.blob_path(blobs[1].blob_id).exists()


async def test_compaction_gives_space_back(tmp_path: Path) -> None:
    store = await LocalStorage.open(tmp_path, fsync=False, tuning=Tuning(grace=3600))
    try:
        await store.create_bucket(Bucket("b1", 1.0))
        for n in range(200):
            await _put(store, f"k{n}", os.urandom(16 * 1024))
        keep = await store.get_object("b1", "k7")
        for n in range(200):
            if n != 7:
                await store.delete_object("b1", f"k{n}")
        await store.settle()
        before, after, seconds = await store.compact()
        assert after < before / 4 and seconds >= 0
        assert os.path.getsize(tmp_path / "meta.sqlite3") <= before
        assert keep is not None and len(await _read(store, keep)) == 16 * 1024
    finally:
        await store.close()


async def test_a_second_store_leaves_the_first_ones_writes_alone(tmp_path: Path) -> None:
    first = await LocalStorage.open(tmp_path, inline_bytes=0)
    await first.create_bucket(Bucket("b1", 1.0))
    staged = await first.stage(_body(b"in flight"))  # in blobs/, referenced by no row yet
    (first._presence.staging / "receiving").write_bytes(b"half")
    (tmp_path / "tmp" / "dead.0").mkdir()
    (tmp_path / "tmp" / "dead.0" / "left").write_bytes(b"by a dead process")

    second = await LocalStorage.open(tmp_path, inline_bytes=0)
    assert not second._presence.alone
    assert (first._presence.staging / "receiving").exists()
    assert not (tmp_path / "tmp" / "dead.0").exists()
    record = await first.commit_object(
        "b1", "k", segments=[staged], etag="E", crc64=0, object_type="Normal", meta=ObjectMeta()
    )
    seen = await second.get_object("b1", "k")
    assert seen == record and await _read(second, seen) == b"in flight"
    await _put(second, "k", b"replaced")  # the second releases the first's blob
    await second.settle()
    assert not first.blob_path(staged.blob_id).exists()
    await first.close()
    await second.close()


async def _durable_store(tmp_path: Path) -> LocalStorage:
    store = await LocalStorage.open(tmp_path, fsync=True, tuning=Tuning(grace=3600))
    await store.create_bucket(Bucket("b1", 1.0))
    return store


async def test_inline_keys_increase_and_are_never_used_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Blocks of 3 keys, so that the stores run through several; two stores share the root, as the
    # workers of one machine do, and the keys of deleted bodies stay used after a reopen.
    monkeypatch.setattr(local, "INLINE_KEY_BLOCK", 3)
    first = await LocalStorage.open(tmp_path, tuning=Tuning(grace=0))
    second = await LocalStorage.open(tmp_path, tuning=Tuning(grace=0))
    await first.create_bucket(Bucket("b1", 1.0))
    keys: dict[int, list[int]] = {0: [], 1: []}
    for n in range(20):
        store = (first, second)[n % 2]
        record = await _put(store, f"k{n % 4}", f"body {n}".encode())  # overwrites: bodies deleted
        keys[n % 2].append(inline_key(record.segments[0].blob_id))
    copy = await second.copy_object(record, "b1", "copy", meta=ObjectMeta())
    keys[1].append(inline_key(copy.segments[0].blob_id))
    assert all(key < 0 for key in keys[0] + keys[1])  # below every key earlier versions drew
    assert keys[0] == sorted(keys[0]) and keys[1] == sorted(keys[1])
    assert len(set(keys[0] + keys[1])) == 21
    await first.settle()
    await first.close()
    await second.close()

    again = await LocalStorage.open(tmp_path)
    try:
        record = await _put(again, "k0", b"after a reopen")
        assert inline_key(record.segments[0].blob_id) > max(keys[0] + keys[1])
        assert await _read(again, record) == b"after a reopen"
    finally:
        await again.close()


async def test_bodies_under_the_random_keys_of_earlier_versions_stay_readable(tmp_path: Path) -> None:
    store = await LocalStorage.open(tmp_path)
    await store.create_bucket(Bucket("b1", 1.0))
    record = await _put(store, "old", b"written by an earlier version")
    await store.close()
    # What an earlier version wrote: a random key in [0, 2**63), and no counters row.
    legacy = "i7a3c0f9e5d1b2c4e"
    db = sqlite3.connect(tmp_path / "meta.sqlite3")
    with db:
        db.execute("UPDATE inline_blobs SET id = ?", (inline_key(legacy),))
        segments = json.dumps([[legacy, record.size]])
        db.execute("UPDATE objects SET segments = ? WHERE key = ?", (segments, b"old"))
        db.execute("DELETE FROM counters")
    db.close()

    store = await LocalStorage.open(tmp_path)
    try:
        old = await store.get_object("b1", "old")
        assert old is not None and old.segments[0].blob_id == legacy
        assert await _read(store, old) == b"written by an earlier version"
        new = await _put(store, "new", b"written now")
        assert inline_key(new.segments[0].blob_id) < 0
        assert await _read(store, new) == b"written now"
        assert await _read(store, old) == b"written by an earlier version"
    finally:
        await store.close()


async def test_a_write_is_answered_only_once_the_wal_is_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await _durable_store(tmp_path)
    real = os.fdatasync
    started, release = threading.Event(), threading.Event()
    synced: list[str] = []

    def held(fd: int) -> None:
        started.set()
        release.wait(10)
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fdatasync", held)
    try:
        put = asyncio.create_task(_put(store, "k", b"body"))
        assert await asyncio.to_thread(started.wait, 10)
        await asyncio.sleep(0.1)
        assert not put.done()  # committed, not yet durable: not answered
        # Its key block was answered at its own commit: a body's commit follows its block's in the
        # WAL, so the fsync that makes the body durable makes the block durable too.
        assert store._inline_next != store._inline_end
        # Writes committed meanwhile are not held up behind the fsync in flight.
        second = asyncio.create_task(_put(store, "k2", b"more"))
        for _ in range(100):
            if await store.get_object("b1", "k2") is not None:
                break
            await asyncio.sleep(0.01)
        assert await store.get_object("b1", "k2") is not None  # committed while the fsync runs
        assert not second.done()  # and answered after the next one
        release.set()
        record = await put
        await second
        assert await _read(store, record) == b"body"
        assert synced and all(path == str(tmp_path / "meta.sqlite3-wal") for path in synced)
    finally:
        release.set()
        await store.close()


async def test_a_write_committed_during_an_fsync_gets_the_next_one_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await _durable_store(tmp_path)
    real = os.fdatasync
    first, release = threading.Event(), threading.Event()
    descriptors: list[int] = []
    counting = threading.Lock()

    def first_held(fd: int) -> None:
        with counting:
            descriptors.append(fd)
            held = len(descriptors) == 1
        if held:
            first.set()
            release.wait(10)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", first_held)
    try:
        put = asyncio.create_task(_put(store, "k", b"body"))
        assert await asyncio.to_thread(first.wait, 10)
        # Committed after the held fsync began, so not covered by it: synced and answered by another
        # one, which does not wait for the disk to finish the first.
        second = await asyncio.wait_for(_put(store, "k2", b"more"), 5)
        assert not put.done()  # its own fsync has not returned
        release.set()
        record = await put
        assert await _read(store, record) == b"body"
        assert await _read(store, second) == b"more"
        # Each fsync thread reports a failed writeback on its own open file (see _Syncer).
        assert descriptors[0] != descriptors[1]
    finally:
        release.set()
        await store.close()


async def test_a_failed_wal_sync_fails_the_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await _durable_store(tmp_path)

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    try:
        with pytest.raises(OSError, match="Input/output error"):
            await _put(store, "k", b"body")
        monkeypatch.undo()
        await _put(store, "k", b"again")  # the store goes on once the disk does
    finally:
        await store.close()
