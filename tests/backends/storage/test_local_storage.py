from __future__ import annotations

from pathlib import Path

import pytest

from ossdoc.backends.storage import LocalStorage
from ossdoc.backends.storage.base import Bucket, ObjectMeta

pytestmark = pytest.mark.anyio


async def _body(data: bytes):  # type: ignore[no-untyped-def]
    yield data


async def test_reopen_keeps_data_and_sweeps_leftovers(tmp_path: Path) -> None:
    store = await LocalStorage.open(tmp_path)
    await store.create_bucket(Bucket("b1", 1.0))
    blob = await store.stage(_body(b"kept"))
    await store.commit_object(
        "b1", "k", segments=[blob], etag="E", crc64=blob.crc64, object_type="Normal", meta=ObjectMeta()
    )
    orphan = await store.stage(_body(b"never committed"))
    (tmp_path / "tmp" / "partial").write_bytes(b"half")
    await store.close()

    store = await LocalStorage.open(tmp_path)
    record = await store.get_object("b1", "k")
    assert record is not None
    assert b"".join([c async for c in store.read(record)]) == b"kept"
    assert not store.blob_path(orphan.blob_id).exists()
    assert list((tmp_path / "tmp").iterdir()) == []
    await store.close()


async def test_no_path_is_derived_from_keys(tmp_path: Path) -> None:
    store = await LocalStorage.open(tmp_path)
    await store.create_bucket(Bucket("b1", 1.0))
    for key in ("../../escape", "/abs", "a/../../b", "..", "中文 key"):
        blob = await store.stage(_body(key.encode()))
        await store.commit_object(
            "b1", key, segments=[blob], etag="E", crc64=0, object_type="Normal", meta=ObjectMeta()
        )
    names = {p.name for p in tmp_path.rglob("*")}
    assert not names & {"escape", "abs", "b", "中文 key"}
    assert not (tmp_path.parent / "escape").exists()
    await store.close()
