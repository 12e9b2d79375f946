from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ossdoc import errors
from ossdoc.backends.state.quotas import SQLiteCounter
from ossdoc.backends.state.redis_client import RedisState
from ossdoc.backends.state.redis_quotas import RedisCounter
from ossdoc.services.docs.quotas import Counter, Limits, Quotas

MINUTE = 6000.0  # the start of a minute, in the tests' own clock
OpenCounter = Callable[[], Counter]


@pytest.fixture
def counters(state_backend: str, tmp_path: Path, redis_states: Callable[[str], RedisState]) -> OpenCounter:
    """Opens the counts as another process would, on the one store of the test."""
    if state_backend == "sqlite":
        return lambda: SQLiteCounter(tmp_path / "quotas.sqlite3")
    return lambda: RedisCounter(redis_states("quotas"))


def refusal(quotas: Quotas, limits: Limits, now: float) -> errors.OSSError:
    with pytest.raises(errors.OSSError) as caught:
        quotas.admit("key", limits, now=now)
    return caught.value


def test_requests_are_counted_per_key_and_minute_across_processes(counters: OpenCounter) -> None:
    first, second = Quotas(counters()), Quotas(counters())
    limits = Limits(rpm=2)
    first.admit("key", limits, now=MINUTE + 1)
    second.admit("key", limits, now=MINUTE + 2)
    refused = refusal(first, limits, MINUTE + 15)
    assert refused.code == "SlowDown" and refused.status == 503
    assert refused.headers["Retry-After"] == "45"  # to the next minute
    assert "2 document requests" in refused.message and "key" in refused.message
    second.admit("other", limits, now=MINUTE + 15)  # each key its own count
    second.admit("key", limits, now=MINUTE + 60)  # a new minute


def test_tokens_spent_refuse_new_requests_until_the_next_minute(counters: OpenCounter) -> None:
    quotas = Quotas(counters())
    limits = Limits(tpm=100)
    quotas.admit("key", limits, now=MINUTE)
    quotas.charge("key", 60, now=MINUTE + 1)
    quotas.admit("key", limits, now=MINUTE + 2)  # 60 of 100: admitted
    quotas.charge("key", 60, now=MINUTE + 3)  # a generation may end over the limit
    refused = refusal(quotas, limits, MINUTE + 59.5)
    assert refused.headers["Retry-After"] == "1" and "100 model tokens" in refused.message
    quotas.admit("key", limits, now=MINUTE + 60)


def test_no_limit_counts_nothing(counters: OpenCounter) -> None:
    quotas = Quotas(counters())
    for n in range(5):
        quotas.admit("key", Limits(), now=MINUTE + n)
    quotas.admit("key", Limits(rpm=1), now=MINUTE + 6)  # the unlimited ones were not counted
