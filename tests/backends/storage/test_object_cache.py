"""Each LocalStorage caches the object records it reads (and small bodies read whole) under a version
per key shared by every opening of the root (``changes.KeyVersions``): a change made through another
opening (another worker process), whatever kind, is seen by the next read; a writer that died between
its two bumps leaves its keys uncached, not stale; reads racing a writer in another process never go
back in time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import ossdoc
from ossdoc.backends.storage import LocalStorage
from ossdoc.backends.storage.base import Bucket, ObjectMeta, ObjectRecord
from ossdoc.backends.storage.changes import KeyVersions

pytestmark = pytest.mark.anyio


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _put(store: LocalStorage, key: str, data: bytes, meta: ObjectMeta | None = None) -> ObjectRecord:
    blob = await store.stage(_body(data))
    return await store.commit_object(
        "b1",
        key,
        segments=[blob],
        etag="E",
        crc64=blob.crc64,
        object_type="Normal",
        meta=meta or ObjectMeta(),
    )


async def _get(store: LocalStorage, key: str) -> bytes | None:
    record = await store.get_object("b1", key)
    if record is None:
        return None
    return b"".join([chunk async for chunk in store.read(record)])


class Counting:
    """A connection that counts the statements run through it."""

    def __init__(self, db: Any) -> None:
        self.db, self.statements = db, 0

    def execute(self, *args: Any) -> Any:
        self.statements += 1
        return self.db.execute(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[LocalStorage, LocalStorage]]:
    reader, writer = await LocalStorage.open(tmp_path), await LocalStorage.open(tmp_path)
    await writer.create_bucket(Bucket("b1", 1.0))
    try:
        yield reader, writer
    finally:
        await reader.close()
        await writer.close()


async def test_a_hot_small_object_is_read_without_sqlite(pair: tuple[LocalStorage, LocalStorage]) -> None:
    reader, writer = pair
    await _put(writer, "k", b"v1")
    assert await _get(reader, "k") == b"v1"
    counting = reader.db = Counting(reader.db)  # type: ignore[assignment]
    for _ in range(3):
        assert await _get(reader, "k") == b"v1"
    assert counting.statements == 0
    await _put(writer, "k", b"v2")
    assert await _get(reader, "k") == b"v2"
    assert counting.statements == 2  # the record, then the body


async def test_every_kind_of_change_elsewhere_is_seen_at_once(
    pair: tuple[LocalStorage, LocalStorage],
) -> None:
    reader, writer = pair
    assert await _get(reader, "k") is None  # absent, and cached as absent
    await _put(writer, "k", b"one")
    assert await _get(reader, "k") == b"one"

    await _put(writer, "k", b"two")  # an overwrite of the same size
    assert await _get(reader, "k") == b"two"

    await writer.update_meta("b1", "k", ObjectMeta(content_type="text/plain"))
    record = await reader.get_object("b1", "k")
    assert record is not None and record.meta.content_type == "text/plain"

    source = await _put(writer, "src", b"copied")
    await writer.copy_object(source, "b1", "k", meta=ObjectMeta())
    assert await _get(reader, "k") == b"copied"

    upload = await writer.create_upload("b1", "k", ObjectMeta())
    part = await writer.put_part(upload, 1, await writer.stage(_body(b"multi")))
    await writer.complete_upload(upload, [part], etag="E-1", crc64=0)
    assert await _get(reader, "k") == b"multi"

    assert await writer.delete_object("b1", "k")
    assert await _get(reader, "k") is None

    blob = await writer.stage(_body(b"ab"))
    appended = await writer.append_object("b1", "a", blob=blob, position=0, meta=ObjectMeta())
    assert await _get(reader, "a") == b"ab"
    blob = await writer.stage(_body(b"cd"))
    await writer.append_object("b1", "a", blob=blob, position=appended.size, meta=ObjectMeta())
    assert await _get(reader, "a") == b"abcd"


async def test_a_writer_that_died_mid_commit_leaves_its_keys_uncached(
    pair: tuple[LocalStorage, LocalStorage],
) -> None:
    reader, writer = pair
    await _put(writer, "k", b"v1")
    slot = KeyVersions.slot("b1", b"k")
    writer._versions.begin([slot])  # the first bump, and never the second
    counting = reader.db = Counting(reader.db)  # type: ignore[assignment]
    for _ in range(2):
        assert await _get(reader, "k") == b"v1"
    assert counting.statements == 4  # read from the database every time
    await _put(writer, "k", b"v2")  # the next writer moves the slot on, to even
    assert writer._versions.version(slot) % 2 == 0
    assert await _get(reader, "k") == b"v2"
    before = counting.statements
    assert await _get(reader, "k") == b"v2"
    assert counting.statements == before


WRITER = """
import asyncio, sys
from pathlib import Path
from ossdoc.backends.storage import LocalStorage
from ossdoc.backends.storage.base import ObjectMeta

async def main():
    store = await LocalStorage.open(Path(sys.argv[1]))
    try:
        for n in range(1, int(sys.argv[2]) + 1):
            async def body(n=n):
                yield str(n).encode()
            blob = await store.stage(body())
            await store.commit_object("b1", "k", segments=[blob], etag="E", crc64=blob.crc64,
                                      object_type="Normal", meta=ObjectMeta())
            print(n, flush=True)
    finally:
        await store.close()

asyncio.run(main())
"""


async def test_reads_racing_a_writer_process_never_go_back(tmp_path: Path) -> None:
    """Another process overwrites one key with 1, 2, 3...; this one reads it all along: every value
    read is at least the last one read, and at least the last one acknowledged before the read."""
    reader = await LocalStorage.open(tmp_path)
    await reader.create_bucket(Bucket("b1", 1.0))
    writes = 400
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(ossdoc.__file__).parents[1]), *sys.path])}
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), str(writes)], stdout=subprocess.PIPE, env=env, text=True
    )
    stdout = child.stdout
    assert stdout is not None
    acknowledged = [0]

    def follow() -> None:  # the last write acknowledged, as the child reports them
        for line in stdout:
            acknowledged[0] = int(line)

    threading.Thread(target=follow, daemon=True).start()
    last = reads = 0
    try:
        deadline = time.monotonic() + 120
        while acknowledged[0] < writes and time.monotonic() < deadline:
            floor = acknowledged[0]  # acknowledged before this read began
            value = await _get(reader, "k")
            reads += 1
            seen = int(value) if value is not None else 0
            assert seen >= floor and seen >= last, (seen, floor, last)
            last = seen
        assert child.wait(timeout=60) == 0
        assert await _get(reader, "k") == str(writes).encode()
        assert reads > writes / 4
    finally:
        child.kill()
        await reader.close()
