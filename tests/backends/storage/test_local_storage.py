from __future__ import annotations

import asyncio
import os
import sqlite3
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ossdoc.backends.storage import LocalStorage, maintenance
from ossdoc.backends.storage.base import Bucket, ObjectMeta, ObjectRecord

pytestmark = pytest.mark.anyio


async def _body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _put(store: LocalStorage, key: str, data: bytes, bucket: str = "b1") -> ObjectRecord:
    blob = await store.stage(_body(data))
    return await store.commit_object(
        bucket, key, segments=[blob], etag="E", crc64=blob.crc64, object_type="Normal", meta=ObjectMeta()
    )


def _blob_files(root: Path) -> set[str]:
    return {path.name for path in (root / "blobs").glob("*/*")}


def _tmp_entries(store: LocalStorage) -> set[str]:
    """What is in tmp/ besides the store's own staging directory and its lock."""
    own = store._presence.owner
    return {p.name for p in (store.root / "tmp").iterdir()} - {own, f"{own}.lock"}


@pytest.fixture(params=[True, False], ids=["fsync", "nofsync"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LocalStorage]:
    # Every body in a file: these tests are about blob files (small bodies: test_group_commit.py).
    opened = await LocalStorage.open(tmp_path, fsync=request.param, inline_bytes=0)
    await opened.create_bucket(Bucket("b1", 1.0))
    yield opened
    await opened.close()


async def test_reopen_keeps_data_and_sweeps_leftovers(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path, inline_bytes=0)
    await store.create_bucket(Bucket("b1", 1.0))
    blob = await store.stage(_body(b"kept"))
    await store.commit_object(
        "b1", "k", segments=[blob], etag="E", crc64=blob.crc64, object_type="Normal", meta=ObjectMeta()
    )
    upload = await store.create_upload("b1", "m", ObjectMeta())
    part = await store.put_part(upload, 1, await store.stage(_body(b"part")))
    orphan = await store.stage(_body(b"never committed"))
    (tmp_path / "tmp" / "partial").write_bytes(b"half")
    (tmp_path / "blobs" / "ff").mkdir(exist_ok=True)
    (tmp_path / "blobs" / "ff" / ("ff" * 16)).write_bytes(b"stray")
    await store.close()

    store = await LocalStorage.open(tmp_path)
    record = await store.get_object("b1", "k")
    assert record is not None
    assert b"".join([c async for c in store.read(record)]) == b"kept"
    assert await store.list_parts(upload) == [part]
    assert _blob_files(tmp_path) == {blob.blob_id, part.blob_id}
    assert not store.blob_path(orphan.blob_id).exists()
    assert _tmp_entries(store) == set()
    await store.close()
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_layout_and_schema(store: LocalStorage) -> None:
    record = await _put(store, "dir/key", b"data")
    (blob_id,) = _blob_files(store.root)
    assert len(blob_id) == 32 and int(blob_id, 16) >= 0
    assert store.blob_path(blob_id) == store.root / "blobs" / blob_id[:2] / blob_id
    assert record.segments[0].blob_id == blob_id
    db = sqlite3.connect(store.root / "meta.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("SELECT typeof(key), key FROM objects").fetchone() == ("blob", b"dir/key")
    db.close()


async def test_no_path_is_derived_from_keys(store: LocalStorage) -> None:
    await store.create_bucket(Bucket("..", 1.0))
    for key in ("../../escape", "/abs", "a/../../b", "..", "中文 key"):
        await _put(store, key, key.encode())
        await _put(store, key, key.encode(), bucket="..")
    names = {p.name for p in store.root.rglob("*")}
    assert not names & {"escape", "abs", "b", "中文 key", ".."}
    assert not (store.root.parent / "escape").exists()


async def test_copy_hard_links_the_blobs(store: LocalStorage) -> None:
    source = await _put(store, "src", b"shared bytes")
    copy = await store.copy_object(source, "b1", "dst", meta=ObjectMeta())
    a = store.blob_path(source.segments[0].blob_id).stat()
    b = store.blob_path(copy.segments[0].blob_id).stat()
    assert (a.st_ino, a.st_nlink) == (b.st_ino, 2)
    await store.delete_object("b1", "src")
    await store.settle()
    assert store.blob_path(copy.segments[0].blob_id).stat().st_nlink == 1
    assert b"".join([c async for c in store.read(copy)]) == b"shared bytes"


async def test_copy_of_a_source_gone_meanwhile(store: LocalStorage) -> None:
    source = await _put(store, "src", b"x")
    await store.delete_object("b1", "src")
    await store.settle()
    with pytest.raises(Exception) as info:
        await store.copy_object(source, "b1", "dst", meta=ObjectMeta())
    assert getattr(info.value, "code", None) == "NoSuchKey"
    assert _blob_files(store.root) == set()


async def test_dead_blobs_are_unlinked_after_commit(store: LocalStorage) -> None:
    first = await _put(store, "k", b"one")
    second = await _put(store, "k", b"two" * 1_000_000)
    await store.settle()
    assert _blob_files(store.root) == {second.segments[0].blob_id}
    await store.delete_object("b1", "k")
    await store.settle()
    assert _blob_files(store.root) == set()
    assert not store.blob_path(first.segments[0].blob_id).exists()

    upload = await store.create_upload("b1", "m", ObjectMeta())
    await store.put_part(upload, 1, await store.stage(_body(b"replaced")))
    p1 = await store.put_part(upload, 1, await store.stage(_body(b"first")))
    await store.put_part(upload, 2, await store.stage(_body(b"unused")))
    await store.settle()
    assert len(_blob_files(store.root)) == 2
    record = await store.complete_upload(upload, [p1], etag="E-1", crc64=0)
    await store.settle()
    assert _blob_files(store.root) == {p1.blob_id} == {s.blob_id for s in record.segments}

    other = await store.create_upload("b1", "n", ObjectMeta())
    await store.put_part(other, 1, await store.stage(_body(b"x")))
    await store.abort_upload(other)
    staged = await store.stage(_body(b"y"))
    await store.discard(staged)
    await store.settle()
    assert _blob_files(store.root) == {p1.blob_id}


async def test_failed_stages_leave_no_files(store: LocalStorage) -> None:
    async def broken() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield os.urandom(700_000)
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        await store.stage(broken())
    with pytest.raises(Exception) as info:
        await store.stage(_body(*[b"z" * 1_000_000] * 4), limit=3_500_000)
    assert getattr(info.value, "code", None) == "EntityTooLarge"
    await _until_no_leftovers(store)


async def test_cancelled_stage_leaves_no_files(store: LocalStorage) -> None:
    started = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        chunk = os.urandom(1024 * 1024)
        while True:
            started.set()
            yield chunk

    task = asyncio.ensure_future(store.stage(endless()))
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _until_no_leftovers(store)


async def _until_no_leftovers(store: LocalStorage) -> None:
    # A cancelled write's file is deleted once its worker thread lets go of the descriptor.
    for _ in range(200):
        if not any(store._presence.staging.iterdir()) and not _blob_files(store.root):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("temporary or blob files left behind")


async def test_staging_memory_stays_flat(store: LocalStorage) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(96 * 16):
            yield os.urandom(64 * 1024)  # 96 MiB in the small chunks a server receives

    tracemalloc.start()
    try:
        blob = await store.stage(body())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob.size == 96 * 1024 * 1024
    assert peak < 8 * 1024 * 1024


async def test_wal_is_checkpointed_off_the_loop(store: LocalStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maintenance, "CHECKPOINT_EVERY", 10)
    for n in range(40):
        await _put(store, f"k{n % 3}", b"x" * 100)
    await store.settle()  # a round of upkeep on the maintenance thread, if none ran meanwhile
    assert store._maintenance.checkpoints >= 1
