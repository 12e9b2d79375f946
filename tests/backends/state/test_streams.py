from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ossdoc.backends.state.redis_client import RedisState
from ossdoc.backends.state.redis_streams import RedisJournal
from ossdoc.backends.state.streams import Journal, StreamJournal

OpenJournal = Callable[..., Journal]


@pytest.fixture
def journals(state_backend: str, tmp_path: Path, redis_states: Callable[[str], RedisState]) -> OpenJournal:
    """Opens a journal (as another process would) on the one store of the test."""
    if state_backend == "sqlite":
        return lambda **bounds: StreamJournal(tmp_path / "s.db", **bounds)
    return lambda **bounds: RedisJournal(redis_states("journal"), **bounds)


def test_a_stream_is_journalled_ended_and_taken_over_once(journals: OpenJournal) -> None:
    journal, other = journals(), journals()
    journal.begin("k", "a")
    assert journal.sent("k", "a", 0, b"event 0", "state 0")
    assert journal.sent("k", "a", 1, b"event 1", "state 1")
    assert not journal.sent("k", "b", 2, b"not the owner", "")
    record = other.get("k")
    assert record is not None and (record.state, record.event_id, record.frame) == ("running", 1, b"event 1")
    assert other.take("k", "b") is None  # running: not to be taken
    journal.end("k", "a", "stopped", "state 1b")
    taken = other.take("k", "b")
    assert taken is not None and taken.owner == "b" and taken.resume == "state 1b"
    assert journal.take("k", "c") is None  # one resume wins
    other.end("k", "b", "done")
    record = journal.get("k")
    assert record is not None and record.state == "done" and record.resume == "state 1b"


def test_the_journal_is_bounded_in_bytes_and_time(journals: OpenJournal) -> None:
    journal = journals(ttl=0.2, max_bytes=100)
    journal.begin("big", "a")
    assert not journal.sent("big", "a", 0, b"x" * 101, "")
    assert journal.get("big") is None
    journal.begin("old", "a")
    time.sleep(0.3)
    assert journal.get("old") is None


def test_a_dead_owner_streams_can_be_continued(journals: OpenJournal) -> None:
    journal = journals()
    journal.begin("k", "host:12:ab")
    journal.begin("j", "host:123:cd")
    assert journal.stop_owner("host:12:") == 1
    stopped, running = journal.get("k"), journal.get("j")
    assert stopped is not None and stopped.state == "stopped"
    assert running is not None and running.state == "running"


def test_a_reaped_redis_owner_streams_can_be_continued(redis_owners: Callable[[str], RedisState]) -> None:
    dead = redis_owners("host:7:dead")
    dead.beat()
    RedisJournal(dead).begin("k", dead.owner)
    dead.client.delete(dead.alive_key(dead.owner))  # its last beat expired
    other = redis_owners("host:8:alive")
    assert other.reap() == ["host:7:dead"]
    taken = RedisJournal(other).take("k", other.owner)
    assert taken is not None and taken.owner == other.owner
