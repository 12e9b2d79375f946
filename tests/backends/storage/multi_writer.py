"""Child process of test_processes: one of several processes sharing a LocalStorage root.

Writes and deletes its own keys (``<name>/<n>``, plain PUTs and multipart uploads, bodies inline and
in files), writes shared keys that the other process writes too, and reads the keys of the others
all along, checking every value it reads is complete. Prints ``<key> <version>`` when a write is
acknowledged, ``<key> -<version>`` when the delete that followed it is, ``bad <why>`` on a torn
read, and ``done`` after closing the store. Usage: ``multi_writer.py ROOT NAME FIRST_VERSION SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from ossdoc.backends.storage import LocalStorage
from ossdoc.backends.storage.base import Bucket, ObjectMeta
from ossdoc.backends.storage.maintenance import Tuning
from ossdoc.crc64 import combine
from ossdoc.errors import BucketAlreadyExists, NoSuchKey

NAMES = ["a", "b"]
OWN = 8  # keys per process
SHARED = [f"shared/{n}" for n in range(4)]
SIZES = [0, 100, 4_096, 60_000, 70_000, 300_000]


def content(key: str, version: int) -> bytes:
    rng = random.Random(f"{key}#{version}")
    return f"{key}#{version}#".encode() + rng.randbytes(rng.choice(SIZES))


def is_whole(key: str, data: bytes) -> bool:
    source, version, _ = data.split(b"#", 2)
    return source.decode() == key and data == content(key, int(version))


async def body(data: bytes) -> AsyncIterator[bytes]:
    for at in range(0, len(data), 64 * 1024):
        yield data[at : at + 64 * 1024]
        await asyncio.sleep(0)


def say(*words: object) -> None:
    print(*words, flush=True)


async def put(store: LocalStorage, key: str, data: bytes) -> None:
    blob = await store.stage(body(data))
    await store.commit_object(
        "shared",
        key,
        segments=[blob],
        etag=blob.md5.hex().upper(),
        crc64=blob.crc64,
        object_type="Normal",
        meta=ObjectMeta(),
    )


async def multipart(store: LocalStorage, key: str, data: bytes) -> None:
    upload = await store.create_upload("shared", key, ObjectMeta())
    half = len(data) // 2
    parts = [
        await store.put_part(upload, n, await store.stage(body(piece)))
        for n, piece in ((1, data[:half]), (2, data[half:]))
    ]
    crc = combine(parts[0].crc64, parts[1].crc64, parts[1].size)
    await store.complete_upload(upload, parts, etag="E-2", crc64=crc)


async def own_loop(store: LocalStorage, key: str, version: int, until: float) -> None:
    while time.monotonic() < until:
        version += 1
        data = content(key, version)
        await (multipart if version % 3 == 0 else put)(store, key, data)
        say(key, version)
        if version % 4 == 0:
            await store.delete_object("shared", key)
            say(key, -version)


async def shared_loop(store: LocalStorage, key: str, version: int, until: float) -> None:
    while time.monotonic() < until:
        version += 1
        await put(store, key, content(key, version))


async def read_loop(store: LocalStorage, keys: list[str], until: float) -> None:
    rng = random.Random()
    while time.monotonic() < until:
        key = rng.choice(keys)
        record = await store.get_object("shared", key)
        if record is not None:
            try:
                data = b"".join([chunk async for chunk in store.read(record)])
            except NoSuchKey:
                say("bad", key, "released while its record was being read")
                continue
            if len(data) != record.size or not is_whole(key, data):
                say("bad", key, "torn")
        await asyncio.sleep(0.001)


async def main(root: Path, name: str, first_version: int, seconds: float) -> None:
    store = await LocalStorage.open(root, True, tuning=Tuning(grace=1.0, interval=0.05))
    with contextlib.suppress(BucketAlreadyExists):
        await store.create_bucket(Bucket("shared", 0.0))
    say("ready")
    until = time.monotonic() + seconds
    others = [f"{other}/{n}" for other in NAMES if other != name for n in range(OWN)]
    await asyncio.gather(
        *(own_loop(store, f"{name}/{n}", first_version, until) for n in range(OWN)),
        *(shared_loop(store, key, first_version, until) for key in SHARED),
        *(read_loop(store, [*others, *SHARED], until) for _ in range(4)),
    )
    await store.close()
    say("done")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
