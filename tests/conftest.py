from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ossdoc_server import RunningServer, running
from seaweedfs import RunningSeaweedFS


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real ossdoc (fake LLM backend) for the whole session; tests use their own buckets."""
    with running(tmp_path_factory.mktemp("ossdoc") / "data") as srv:
        yield srv


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSeaweedFS]:
    """One real SeaweedFS on 127.0.0.1 for the session, for the S3 storage backend."""
    import seaweedfs

    with seaweedfs.running(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server
