from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ossdoc.backends.storage import LocalStorage, MemoryStorage, StorageBackend


@pytest.fixture(params=["memory", "local"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageBackend]:
    store: StorageBackend = (
        MemoryStorage() if request.param == "memory" else await LocalStorage.open(tmp_path)
    )
    yield store
    await store.close()
