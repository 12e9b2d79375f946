"""The shared-state backends, each contract test run against SQLite (one machine) and Redis
(replicas): ``state_backend`` names which; Redis keys get a prefix of their own per test."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest

from ossdoc.backends.state.redis_client import RedisState

OpenState = Callable[[str], RedisState]


@pytest.fixture(params=["sqlite", "redis"])
def state_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _states(request: pytest.FixtureRequest) -> Iterator[OpenState]:
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


@pytest.fixture
def redis_states(request: pytest.FixtureRequest, state_backend: str) -> Iterator[OpenState]:
    """In the Redis run of a contract test: opens the RedisState of an owner (a process), without
    heartbeat thread, all on the test's prefix."""
    if state_backend != "redis":
        yield lambda owner: pytest.fail("not a Redis test")
        return
    yield from _states(request)


@pytest.fixture
def redis_owners(request: pytest.FixtureRequest) -> Iterator[OpenState]:
    """``redis_states`` for the tests of Redis alone (heartbeats, reaping)."""
    yield from _states(request)
