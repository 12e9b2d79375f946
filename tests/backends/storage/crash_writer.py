"""Child process of test_local_crash: overwrite keys of a LocalStorage concurrently until killed.

Every value is derived from (key, version), so the parent can tell a complete value from anything
else. Each key has one writer task, and a line ``<key> <version>`` is printed once a write is
acknowledged. Small keys (CHURN_KEYS) are written and deleted by many tasks at once, so their
bodies go through the group commit in batches and the database has free pages to compact all the
time (the upkeep is tuned to compact at once); a line ``compacted <n>`` is printed when a
compaction is over. Usage: ``crash_writer.py ROOT FIRST_VERSION FSYNC(0|1)``."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from ossdoc.backends.storage import LocalStorage
from ossdoc.backends.storage.base import Bucket, ObjectMeta
from ossdoc.backends.storage.maintenance import Tuning
from ossdoc.crc64 import combine
from ossdoc.errors import BucketAlreadyExists, NoSuchKey

PUT_KEYS = ["put/0", "put/1", "put/2"]
MULTIPART_KEYS = ["mp/0", "mp/1"]
APPEND_KEY = "append"
COPY_KEY = "copy"
CHURN_KEYS = [f"churn/{n}" for n in range(24)]
SIZES = [0, 10, 5_000, 300_000, 2_500_000]
CHURN_SIZES = [0, 100, 4_096, 30_000, 60_000]
# Upkeep as often as it can go: garbage deleted at once, compaction as soon as a page is free.
TUNING = Tuning(grace=0.0, interval=0.01, compact_bytes=1, compact_share=0.0)


def content(key: str, version: int) -> bytes:
    rng = random.Random(f"{key}#{version}")
    sizes = CHURN_SIZES if key.startswith("churn/") else SIZES
    return f"{key}#{version}#".encode() + rng.randbytes(rng.choice(sizes))


def piece(index: int) -> bytes:
    """The ``index``-th piece appended to APPEND_KEY."""
    rng = random.Random(f"piece#{index}")
    return f"<{index}>".encode() + rng.randbytes(rng.randint(0, 20_000))


def multipart_etag(data: bytes) -> str:
    halves = [data[: len(data) // 2], data[len(data) // 2 :]]
    digests = b"".join(hashlib.md5(h).digest() for h in halves)
    return f"{hashlib.md5(digests).hexdigest().upper()}-2"


async def chunked(data: bytes) -> AsyncIterator[bytes]:
    for at in range(0, len(data), 64 * 1024):
        yield data[at : at + 64 * 1024]
        await asyncio.sleep(0)


def ack(key: str, version: int) -> None:
    print(key, version, flush=True)


async def put_loop(store: LocalStorage, key: str, version: int) -> None:
    while True:
        version += 1
        await put_once(store, key, version)
        ack(key, version)


async def multipart_loop(store: LocalStorage, key: str, version: int) -> None:
    while True:
        version += 1
        data = content(key, version)
        upload = await store.create_upload("crash", key, ObjectMeta())
        half = len(data) // 2
        parts = [
            await store.put_part(upload, n, await store.stage(chunked(d)))
            for n, d in ((1, data[:half]), (2, data[half:]))
        ]
        crc = combine(parts[0].crc64, parts[1].crc64, parts[1].size)
        await store.complete_upload(upload, parts, etag=multipart_etag(data), crc64=crc)
        ack(key, version)


async def append_loop(store: LocalStorage) -> None:
    record = await store.get_object("crash", APPEND_KEY)
    size, index, at = (record.size if record else 0), 0, 0
    while at < size:
        at, index = at + len(piece(index)), index + 1
    while True:
        data = piece(index)
        blob = await store.stage(chunked(data))
        await store.append_object("crash", APPEND_KEY, blob=blob, position=size, meta=ObjectMeta())
        ack(APPEND_KEY, index)
        size, index = size + len(data), index + 1


async def copy_loop(store: LocalStorage) -> None:
    rng = random.Random()
    while True:
        source = await store.get_object("crash", rng.choice([*PUT_KEYS, *CHURN_KEYS]))
        if source is not None:
            with contextlib.suppress(NoSuchKey):  # the source was overwritten since it was read
                await store.copy_object(source, "crash", COPY_KEY, meta=ObjectMeta())
        await asyncio.sleep(0.001)


async def churn_loop(store: LocalStorage, key: str, version: int) -> None:
    """Write ``key`` and delete it after every odd version: acknowledged like put_loop, a delete as
    the version it deleted, negated."""
    while True:
        version += 1
        await put_once(store, key, version)
        ack(key, version)
        if version % 2:
            await store.delete_object("crash", key)
            ack(key, -version)


async def put_once(store: LocalStorage, key: str, version: int) -> None:
    data = content(key, version)
    blob = await store.stage(chunked(data))
    await store.commit_object(
        "crash",
        key,
        segments=[blob],
        etag=blob.md5.hex().upper(),
        crc64=blob.crc64,
        object_type="Normal",
        meta=ObjectMeta(),
    )


async def compactions(store: LocalStorage) -> None:
    seen = 0
    while True:
        done = len(store._maintenance.compactions)
        if done > seen:
            print("compacted", done - seen, flush=True)
            seen = done
        await asyncio.sleep(0.01)


async def main(root: Path, first_version: int, fsync: bool) -> None:
    store = await LocalStorage.open(root, fsync, tuning=TUNING)
    with contextlib.suppress(BucketAlreadyExists):
        await store.create_bucket(Bucket("crash", 0.0))
    print("ready", flush=True)
    await asyncio.gather(
        *(put_loop(store, key, first_version) for key in PUT_KEYS),
        *(multipart_loop(store, key, first_version) for key in MULTIPART_KEYS),
        *(churn_loop(store, key, first_version) for key in CHURN_KEYS),
        append_loop(store),
        copy_loop(store),
        compactions(store),
    )


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"))
