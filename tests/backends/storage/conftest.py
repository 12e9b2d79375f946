from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ossdoc.backends.storage import LocalStorage, MemoryStorage, StorageBackend


@pytest.fixture(params=["memory", "local", "local-nofsync"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageBackend]:
    if request.param == "memory":
        store: StorageBackend = MemoryStorage()
    else:
        store = await LocalStorage.open(tmp_path, fsync=request.param == "local")
    yield store
    await store.close()
