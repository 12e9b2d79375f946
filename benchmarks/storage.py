"""LocalStorage on its own (no HTTP), fsync on: what sets its inline threshold, and compaction.

1. Concurrent PUTs (16 writers) of bodies of one size, each size stored inline (in SQLite, group
   commit: one WAL fsync per batch) and as files (a file fsynced per body, then the batched metadata
   commit): ops/s and MiB/s, inline / file. Bodies up to the size where inline stops winning belong
   in the database (``INLINE_BYTES``).
2. Compaction: 20,000 4 KiB objects written, 90% deleted; database size before and after, and
   the time compaction took, while reads of the rest go on (200 every 10 ms).
3. A full store: 4 KiB PUTs as in 1 into a store that already holds ``--full`` small objects
   (written with fsync off), against an empty store, alternating; ops/s and the ratio, full /
   empty. Where each new body goes in the table decides it: at the edge of its b-tree, the ratio
   stays near 1; on a random leaf, every PUT dirties pages of its own.

  .venv/bin/python benchmarks/storage.py [--seconds 5] [--fsync 1] [--full 60000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from ossdoc.backends.storage import LocalStorage
from ossdoc.backends.storage.base import Bucket, ObjectMeta
from ossdoc.backends.storage.maintenance import Tuning

KiB = 1024
MiB = 1024 * KiB
WRITERS = 16


async def body(data: bytes) -> AsyncIterator[bytes]:
    for at in range(0, len(data), 64 * KiB):
        yield data[at : at + 64 * KiB]


async def put(store: LocalStorage, key: str, data: bytes) -> None:
    blob = await store.stage(body(data))
    await store.commit_object(
        "b", key, segments=[blob], etag="E", crc64=blob.crc64, object_type="Normal", meta=ObjectMeta()
    )


async def writes(root: Path, size: int, inline: bool, seconds: float, fsync: bool) -> float:
    """PUTs per second of ``size`` bytes by WRITERS concurrent writers over 64 keys."""
    store = await LocalStorage.open(root, fsync, inline_bytes=size if inline else 0)
    try:
        if await store.get_bucket("b") is None:  # a store written before (the full-store rounds)
            await store.create_bucket(Bucket("b", 0.0))
        data = os.urandom(size)
        done = 0
        until = time.monotonic() + seconds

        async def writer(n: int) -> None:
            nonlocal done
            while time.monotonic() < until:
                await put(store, f"k{(n * 7 + done) % 64}", data)
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
        return done / (time.perf_counter() - start)
    finally:
        await store.close()


async def fill(root: Path, count: int) -> None:
    """``count`` 4 KiB objects under keys of their own, fsync off (it is the state that matters)."""
    store = await LocalStorage.open(root, False)
    try:
        await store.create_bucket(Bucket("b", 0.0))
        data = os.urandom(4 * KiB)

        async def writer(n: int) -> None:
            for key in range(n, count, WRITERS):
                await put(store, f"fill/{key}", data)

        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
    finally:
        await store.close()


async def full_store(tmp: Path, count: int, seconds: float, rounds: int, fsync: bool) -> str:
    await fill(tmp / "full", count)
    rates: dict[str, list[float]] = {"empty": [], "full": []}
    for round_no in range(rounds):
        for name in ("empty", "full") if round_no % 2 == 0 else ("full", "empty"):
            rates[name].append(await writes(tmp / name, 4 * KiB, True, seconds, fsync))
    empty, full = (sorted(rates[name])[len(rates[name]) // 2] for name in ("empty", "full"))
    return (
        f"4 KiB PUTs into a store holding {count:,} small objects: {full:,.0f} ops/s, "
        f"into an empty one: {empty:,.0f} ops/s (medians of {rounds}), full / empty {full / empty:.2f}"
    )


async def compaction(root: Path, fsync: bool) -> str:
    store = await LocalStorage.open(root, fsync, tuning=Tuning(grace=3600, compact_bytes=2**62))
    try:
        await store.create_bucket(Bucket("b", 0.0))
        data = os.urandom(4 * KiB)
        for start in range(0, 20_000, 500):
            await asyncio.gather(*(put(store, f"k{n}", data) for n in range(start, start + 500)))
        for start in range(0, 20_000, 500):
            await asyncio.gather(
                *(store.delete_object("b", f"k{n}") for n in range(start, start + 500) if n % 10)
            )
        await store.settle()
        kept = [await store.get_object("b", f"k{n}") for n in range(0, 20_000, 10)]
        reads = 0

        async def reader() -> None:
            nonlocal reads
            while not compacted.done():
                for record in kept[:200]:
                    assert record is not None
                    async for _ in store.read(record):
                        pass
                    reads += 1
                await asyncio.sleep(0.01)  # a steady trickle of reads, not a loop that hogs the GIL

        compacted = asyncio.ensure_future(store.compact())
        await asyncio.gather(compacted, reader())
        before, after, seconds = compacted.result()
        return (
            f"compaction: 20,000 x 4 KiB written, 18,000 deleted: database {before / MiB:.1f} MiB -> "
            f"{after / MiB:.1f} MiB in {seconds:.2f} s, {reads} reads of the rest meanwhile"
        )
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--sizes", default="4,8,16,64,256,1024", help="KiB, comma-separated")
    parser.add_argument("--skip-compaction", action="store_true")
    parser.add_argument("--fsync", choices=["0", "1"], default="1")
    parser.add_argument("--full", type=int, default=60_000, help="objects in the full store (0: skip)")
    parser.add_argument("--rounds", type=int, default=2, help="of the full-store comparison")
    args = parser.parse_args()
    fsync = args.fsync == "1"
    print(f"{WRITERS} concurrent PUTs, fsync {'on' if fsync else 'off'}")
    print(
        f"{'size':>8}{'inline ops/s':>14}{'file ops/s':>12}{'inline MiB/s':>14}{'file MiB/s':>12}{'ratio':>8}"
    )
    with tempfile.TemporaryDirectory(prefix="ossdoc-storage-", dir=os.environ.get("TMPDIR")) as tmp:
        for size in [int(kib) * KiB for kib in args.sizes.split(",")]:
            rates = []
            for inline in (True, False):
                root = Path(tmp) / f"{size}-{inline}"
                rates.append(await writes(root, size, inline, args.seconds, fsync))
            mib = [rate * size / MiB for rate in rates]
            print(
                f"{size // KiB:>6}Ki{rates[0]:>14,.0f}{rates[1]:>12,.0f}{mib[0]:>14,.1f}{mib[1]:>12,.1f}"
                f"{rates[0] / rates[1]:>8.2f}"
            )
        if not args.skip_compaction:
            print(await compaction(Path(tmp) / "compaction", fsync))
        if args.full:
            print(await full_store(Path(tmp), args.full, args.seconds, args.rounds, fsync))


if __name__ == "__main__":
    asyncio.run(main())
