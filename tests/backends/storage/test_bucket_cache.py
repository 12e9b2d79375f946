"""Each LocalStorage caches bucket records; a change made through another opening of the same root
(another worker process) is seen by the next read, and the shared change counter loses no count
when several processes bump it at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ossdoc import errors
from ossdoc.backends.storage import LocalStorage
from ossdoc.backends.storage.base import Bucket
from ossdoc.backends.storage.changes import ChangeCounter

pytestmark = pytest.mark.anyio


async def test_a_bucket_change_elsewhere_is_seen_at_once(tmp_path: Path) -> None:
    reader, writer = await LocalStorage.open(tmp_path), await LocalStorage.open(tmp_path)
    try:
        assert await reader.get_bucket("b1") is None  # absent, and cached as absent
        await writer.create_bucket(_bucket("b1"))
        created = await reader.get_bucket("b1")
        assert created is not None and created.acl == "private"
        assert await reader.get_bucket("b1") == created  # from the cache now

        await writer.set_bucket_acl("b1", "public-read")
        changed = await reader.get_bucket("b1")
        assert changed is not None and changed.acl == "public-read"

        await writer.delete_bucket("b1")
        assert await reader.get_bucket("b1") is None
    finally:
        await reader.close()
        await writer.close()


async def test_a_failed_change_keeps_the_cache(tmp_path: Path) -> None:
    store = await LocalStorage.open(tmp_path)
    try:
        await store.create_bucket(_bucket("b1"))
        assert await store.get_bucket("b1") is not None
        before = store._bucket_changes.value()
        with pytest.raises(errors.BucketAlreadyExists):
            await store.create_bucket(_bucket("b1"))
        assert store._bucket_changes.value() == before
    finally:
        await store.close()


BUMPS = """
import sys
from pathlib import Path
from ossdoc.backends.storage.changes import ChangeCounter
counter = ChangeCounter(Path(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    counter.bump()
counter.close()
"""


def test_concurrent_bumps_from_processes_all_count(tmp_path: Path) -> None:
    path = tmp_path / "changes"
    children = [subprocess.Popen([sys.executable, "-c", BUMPS, str(path), "2000"]) for _ in range(3)]
    assert [child.wait(timeout=120) for child in children] == [0, 0, 0]
    counter = ChangeCounter(path)
    try:
        assert counter.value() == 6000
    finally:
        counter.close()


def _bucket(name: str) -> Bucket:
    return Bucket(name=name, created=1.0)
