"""A stream journal that fails (Redis gone) never breaks a stream: a stream being written goes on
unjournalled, and one being followed ends with ``event: error`` naming the cause."""

from __future__ import annotations

import pytest

from ossdoc import errors
from ossdoc.backends.state.streams import State, StreamRecord
from ossdoc.services.docs import Generation
from ossdoc.services.docs.admission import LocalAdmission
from ossdoc.services.docs.generation import Progress, Resume, Ticket, replay
from ossdoc.wire import resume

pytestmark = pytest.mark.anyio


class GoneJournal:
    """Every call fails as the Redis journal does when Redis cannot be reached."""

    ttl, max_bytes = 600.0, 1 << 20

    def fail(self) -> errors.OSSError:
        return errors.ServiceUnavailable("The shared state store (Redis) is unavailable; retry later.")

    def get(self, key: str) -> StreamRecord | None:
        raise self.fail()

    def begin(self, key: str, owner: str) -> None:
        raise self.fail()

    def sent(self, key: str, owner: str, event_id: int, frame: bytes, resume: str) -> bool:
        raise self.fail()

    def end(self, key: str, owner: str, state: State, resume: str = "") -> None:
        raise self.fail()

    def take(self, key: str, owner: str) -> StreamRecord | None:
        raise self.fail()

    def stop_owner(self, owner_prefix: str) -> int:
        raise self.fail()

    def close(self) -> None:
        pass


async def never_started(resume_from: Resume | None) -> Generation:
    raise AssertionError("a followed stream starts nothing while its journal is away")


def test_a_stream_goes_on_unjournalled_when_its_journal_fails() -> None:
    recorder = resume.JournalRecorder(GoneJournal(), "key")
    recorder.sent(0, b"id: 0\n\n", None)
    assert not recorder.active  # no more writes tried; the reply itself goes on
    recorder.ended(True, None)


async def test_a_followed_stream_ends_with_an_error_event_when_its_journal_fails() -> None:
    events = [e async for e in resume._follow(GoneJournal(), "key", 3, never_started, "REQ1")]
    assert len(events) == 1
    assert events[0].startswith(b"id: 4\nevent: error\n")
    assert b'"Code":"ServiceUnavailable"' in events[0] and b"Redis" in events[0] and b"REQ1" in events[0]


async def test_a_new_stream_whose_journal_fails_gives_back_its_place() -> None:
    places = LocalAdmission()

    async def start(resume_from: Resume | None) -> Generation:
        assert places.admit(1) == 1
        return Generation(replay(Progress("text", "stop", 1, 1)), Ticket(places))

    with pytest.raises(errors.OSSError) as caught:
        await resume.new_stream(GoneJournal(), "key", start, "REQ2")
    assert caught.value.code == "ServiceUnavailable"  # 503 before the reply starts
    assert places.taken() == 0
