"""SIGKILL a process that overwrites, appends to, copies and deletes keys of a LocalStorage, again and
again, while small bodies go through the group commit and the database is being compacted: after
each kill every key must read back as one complete value written to it, with matching size, ETag
and CRC; no acknowledged write or delete may be lost; nothing unreferenced may stay on disk or in
the database."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ossdoc
from ossdoc.backends.storage import LocalStorage
from ossdoc.backends.storage.base import ObjectRecord
from ossdoc.backends.storage.blobs import appendable_etag
from ossdoc.backends.storage.maintenance import is_inline
from ossdoc.crc64 import crc64

sys.path.insert(0, str(Path(__file__).parent))

from crash_writer import (
    APPEND_KEY,
    CHURN_KEYS,
    COPY_KEY,
    MULTIPART_KEYS,
    PUT_KEYS,
    content,
    multipart_etag,
    piece,
)

ROUNDS = 20
WRITER = Path(__file__).parent / "crash_writer.py"


def run_and_kill(
    root: Path, first_version: int, fsync: bool, rng: random.Random
) -> tuple[dict[str, int], int]:
    """Run the writer, SIGKILL it at a random moment; return the last acknowledged version per key
    and how many compactions it finished."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(ossdoc.__file__).parents[1]), *sys.path])}
    child = subprocess.Popen(
        [sys.executable, str(WRITER), str(root), str(first_version), "1" if fsync else "0"],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.05, 0.8))
    finally:
        child.send_signal(signal.SIGKILL)
        output, _ = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    acked: dict[str, int] = {}
    compactions = 0
    for line in output.split("\n")[:-1]:  # the last piece is empty or a line cut by the kill
        key, version = line.rsplit(" ", 1)
        if key == "compacted":
            compactions += int(version)
        else:
            acked[key] = int(version)
    return acked, compactions


async def read(store: LocalStorage, record: ObjectRecord) -> bytes:
    return b"".join([chunk async for chunk in store.read(record)])


def version_of(key: str, data: bytes) -> int:
    """The version whose complete value ``data`` is (any key for the copy), else fail."""
    source, version, _ = data.split(b"#", 2)
    assert key in (source.decode(), COPY_KEY)
    assert data == content(source.decode(), int(version)), f"{key}: torn or mixed content"
    return int(version)


def pieces_in(data: bytes) -> int:
    at = count = 0
    while at < len(data):
        expected = piece(count)
        assert data[at : at + len(expected)] == expected, "appendable object is not whole pieces"
        at, count = at + len(expected), count + 1
    return count


async def verify(root: Path, acked: dict[str, int], first_version: int) -> None:
    store = await LocalStorage.open(root)
    try:
        for key in CHURN_KEYS:
            await verify_churn(store, key, acked.get(key))
        for key in [*PUT_KEYS, *MULTIPART_KEYS, APPEND_KEY, COPY_KEY]:
            record = await store.get_object("crash", key)
            if record is None:
                assert key not in acked, f"{key}: acknowledged write lost"
                continue
            data = await read(store, record)
            assert (record.size, record.crc64) == (len(data), crc64(data))
            if key == APPEND_KEY:
                assert record.etag == appendable_etag(record.crc64, record.size)
                count = pieces_in(data)
                if key in acked:
                    assert count >= acked[key] + 1, f"{key}: acknowledged append lost"
                    assert count <= acked[key] + 2
                continue
            version = version_of(key, data)
            if record.object_type == "Multipart":
                assert record.etag == multipart_etag(data)
            else:
                assert record.etag == hashlib.md5(data).hexdigest().upper()
            if key in acked:
                assert version >= acked[key], f"{key}: acknowledged version {acked[key]} lost"
                assert version <= acked[key] + 1
            elif key != COPY_KEY and version > first_version:
                assert version == first_version + 1
        listed = await store.list_objects("crash", "", b"", 1000)
        for record in listed:  # listings agree with reads
            assert await store.get_object("crash", record.key) == record
            assert len(await read(store, record)) == record.size
        referenced = {s.blob_id for record in listed for s in record.segments}
        for upload in await store.list_uploads("crash", "", "", "", 100):
            referenced |= {p.blob_id for p in await store.list_parts(upload)}
        assert {p.name for p in (root / "blobs").glob("*/*")} == {b for b in referenced if not is_inline(b)}
        inline = {f"i{n:016x}" for (n,) in store.db.execute("SELECT id FROM inline_blobs")}
        assert inline == {b for b in referenced if is_inline(b)}
        assert store.db.execute("SELECT count(*) FROM garbage").fetchone() == (0,)
    finally:
        await store.close()
    assert list((root / "tmp").iterdir()) == []


async def verify_churn(store: LocalStorage, key: str, acked: int | None) -> None:
    """A key written and deleted in turns: its value complete, and the last acknowledged write or
    delete (negative: the version it deleted) not undone."""
    record = await store.get_object("crash", key)
    version = None
    if record is not None:
        data = await read(store, record)
        version = version_of(key, data)
        assert (record.size, record.crc64, record.etag) == (
            len(data),
            crc64(data),
            hashlib.md5(data).hexdigest().upper(),
        )
    if acked is None:
        return
    if acked < 0:  # deleted -acked, then perhaps wrote the next version
        assert version in (None, -acked + 1), f"{key}: acknowledged delete undone"
    elif acked % 2:  # wrote an odd version, then perhaps deleted it
        assert version in (None, acked), f"{key}: acknowledged version {acked} lost"
    else:
        assert version in (acked, acked + 1), f"{key}: acknowledged version {acked} lost"


@pytest.mark.timeout(600)
def test_sigkill_during_concurrent_writes(tmp_path: Path) -> None:
    rng = random.Random(20240611)
    root = tmp_path / "store"
    acknowledged = compactions = 0
    for round_no in range(ROUNDS):
        first_version = round_no * 100_000
        acked, compacted = run_and_kill(root, first_version, fsync=round_no % 2 == 0, rng=rng)
        asyncio.run(verify(root, acked, first_version))
        acknowledged += len(acked)
        compactions += compacted
    assert acknowledged > ROUNDS  # the kills did land among writes
    assert compactions > 0  # and among compactions
