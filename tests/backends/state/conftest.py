"""The shared-state backends, each contract test run against SQLite (one machine) and Redis
(replicas): ``state_backend`` names which; Redis keys get a prefix of their own per test."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest

from ossdoc.backends.state.redis_client import RedisState


@pytest.fixture(params=["sqlite", "redis"])
def state_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def redis_states(request: pytest.FixtureRequest, state_backend: str) -> Iterator[Callable[[str], RedisState]]:
    """Opens the RedisState of an owner (a process), without heartbeat thread; all on one prefix."""
    if state_backend != "redis":
        yield lambda owner: pytest.fail("not a Redis test")
        return
    server = request.getfixturevalue("redis_server")
    prefix = f"test-{secrets.token_hex(4)}:"
    opened: list[RedisState] = []

    def open_state(owner: str) -> RedisState:
        state = RedisState(server.url, prefix, owner=owner, beat=False)
        opened.append(state)
        return state

    yield open_state
    for state in opened:
        state.close()
