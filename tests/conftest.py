from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ossdoc_server import RunningServer, running
from redis_server import RunningRedis
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


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRedis]:
    """One real redis-server on 127.0.0.1 for the session; tests use their own key prefixes."""
    import redis_server

    if redis_server.binary() is None:
        pytest.skip("redis-server is not installed (scripts/bootstrap test installs it)")
    with redis_server.running(tmp_path_factory.mktemp("redis")) as server:
        yield server
