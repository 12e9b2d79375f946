from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ossdoc.backends.storage import LocalStorage, MemoryStorage, StorageBackend, open_storage
from ossdoc.config import Settings


@pytest.fixture(params=["memory", "local", "local-nofsync", "s3"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageBackend]:
    if request.param == "memory":
        store: StorageBackend = MemoryStorage()
    elif request.param == "s3":
        # Each test in a prefix of its own of one SeaweedFS bucket.
        seaweedfs = request.getfixturevalue("seaweedfs")
        store = await open_storage(Settings(**seaweedfs.settings(f"s3://contract/{uuid.uuid4().hex}")))
    else:
        store = await LocalStorage.open(tmp_path, fsync=request.param == "local")
    yield store
    await store.close()
