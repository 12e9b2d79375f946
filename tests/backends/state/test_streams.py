from __future__ import annotations

import time
from pathlib import Path

from ossdoc.backends.state.streams import StreamJournal


def test_a_stream_is_journalled_ended_and_taken_over_once(tmp_path: Path) -> None:
    journal, other = StreamJournal(tmp_path / "s.db"), StreamJournal(tmp_path / "s.db")
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


def test_the_journal_is_bounded_in_bytes_and_time(tmp_path: Path) -> None:
    journal = StreamJournal(tmp_path / "s.db", ttl=0.2, max_bytes=100)
    journal.begin("big", "a")
    assert not journal.sent("big", "a", 0, b"x" * 101, "")
    assert journal.get("big") is None
    journal.begin("old", "a")
    time.sleep(0.3)
    assert journal.get("old") is None


def test_a_dead_owner_streams_can_be_continued(tmp_path: Path) -> None:
    journal = StreamJournal(tmp_path / "s.db")
    journal.begin("k", "host:12:ab")
    journal.begin("j", "host:123:cd")
    assert journal.stop_owner("host:12:") == 1
    stopped, running = journal.get("k"), journal.get("j")
    assert stopped is not None and stopped.state == "stopped"
    assert running is not None and running.state == "running"
