"""Resuming a document event stream: a client that lost its connection sends the same request again
with ``Last-Event-ID`` and gets what comes after that event, on whichever worker it reaches, without
a second generation.

Every stream is journalled (``backends/state/streams.py``): its last event and how far its
generation has come. Since every event carries the whole text so far, the last event is all a
resuming client needs of the past. A resumed request is answered, as the ``x-oss-stream-resume``
header says, by:

- ``replay``: the stream had ended; its last event (``Result``, or ``error``) is sent again;
- ``follow``: it is still being generated (the first connection has not been noticed gone yet):
  its events are followed from the journal as they are written;
- ``continue``: it stopped when its client left (a disconnect cancels the generation at once):
  the model goes on from the text it had written, and the counts in ``Usage`` go on from there;
- ``fresh``: there is nothing to resume (never seen, older than ``OSSDOC_RESUME_SECONDS``, larger
  than ``OSSDOC_RESUME_BYTES``, or the map phase of a long summary): a new generation, ids from 0.

Event ids of a resumed stream go on from the last one sent, and may skip some: a skipped event's
text is inside the next one."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable

import anyio

from ossdoc import errors
from ossdoc.backends.state import process_owner
from ossdoc.backends.state.streams import Journal, StreamRecord
from ossdoc.services.docs import Generation, Progress
from ossdoc.services.docs.generation import Resume
from ossdoc.wire import sse

log = logging.getLogger("ossdoc.sse")
HEADER = "x-oss-stream-resume"
POLL_SECONDS = 0.05
Start = Callable[[Resume | None], Awaitable[Generation]]


def stream_key(access_key_id: str, bucket: str, key: str, process: str) -> str:
    """Requests are the same stream when the same key sends the same process to the same object."""
    material = "\0".join((access_key_id, bucket, key, process))
    return hashlib.sha256(material.encode()).hexdigest()


def last_event_id(value: str | None) -> int | None:
    """The ``Last-Event-ID`` header as an event id; None when absent or not one of ours."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


class JournalRecorder:
    """An ``sse.Recorder`` that writes the stream's journal row."""

    def __init__(self, journal: Journal, key: str) -> None:
        self.journal, self.key, self.owner = journal, key, process_owner()
        self.active = True

    def sent(self, event_id: int, event: bytes, latest: Progress | None) -> None:
        if self.active:
            try:
                self.active = self.journal.sent(self.key, self.owner, event_id, event, _resume(latest))
            except errors.OSSError as exc:  # the stream goes on; it can no longer be resumed
                log.warning("stream journal: %s", exc.message)
                self.active = False

    def ended(self, finished: bool, latest: Progress | None) -> None:
        if self.active:
            try:
                self.journal.end(self.key, self.owner, "done" if finished else "stopped", _resume(latest))
            except errors.OSSError as exc:
                log.warning("stream journal: %s", exc.message)


def _resume(progress: Progress | None) -> str:
    return progress.resume.dumps() if progress is not None and progress.resume is not None else ""


async def new_stream(journal: Journal, key: str, start: Start, request_id: str) -> sse.EventStream:
    """A stream from its first event, journalled. Admission (or SlowDown) happens here."""
    generation = await start(None)
    try:
        journal.begin(key, process_owner())
    except BaseException:
        await generation.aclose()  # its place in the queue is given back
        raise
    return sse.EventStream(generation, request_id, recorder=JournalRecorder(journal, key))


async def resumed_stream(
    journal: Journal, record: StreamRecord, after: int, start: Start, request_id: str
) -> tuple[str, AsyncIterable[bytes]]:
    """How the stream of ``record`` is resumed for a client that has seen events up to ``after``,
    and its events. Admission of a continued generation happens here."""
    if record.state == "done":
        return "replay", _once(record.frame if record.event_id > after else b"")
    if record.state == "stopped":
        taken = journal.take(record.key, process_owner())
        if taken is not None:
            stream = await _continue(journal, taken, after, start, request_id)
            return ("continue" if stream.generation.resumed else "fresh"), stream
    return "follow", _follow(journal, record.key, after, start, request_id)


async def _continue(
    journal: Journal, record: StreamRecord, after: int, start: Start, request_id: str
) -> sse.EventStream:
    try:
        generation = await start(Resume.loads(record.resume) if record.resume else None)
    except BaseException:
        journal.end(record.key, process_owner(), "stopped")  # another resume may try again
        raise
    log.info("stream resumed after event %d: %s", after, "continued" if generation.resumed else "restarted")
    recorder = JournalRecorder(journal, record.key)
    if not generation.resumed:  # nothing to continue from: a new generation, as a new stream
        return sse.EventStream(generation, request_id, recorder=recorder)
    replay = record.frame if record.event_id > after else b""
    return sse.EventStream(
        generation, request_id, first_id=record.event_id + 1, replay=replay, recorder=recorder
    )


def _error(exc: errors.OSSError, request_id: str) -> dict[str, str]:
    return {"RequestId": request_id, "Code": exc.code, "Message": exc.message}


async def _once(event: bytes) -> AsyncIterator[bytes]:
    if event:
        yield event


async def _closing(stream: sse.EventStream) -> AsyncIterator[bytes]:
    try:
        async for event in stream:
            yield event
    finally:
        with anyio.CancelScope(shield=True):
            await stream.close()


async def _follow(
    journal: Journal, key: str, after: int, start: Start, request_id: str, ping: float = 15.0
) -> AsyncIterator[bytes]:
    """The events another connection's generation writes to the journal; if that generation stops
    (its client gone) or its worker dies, this request continues it."""
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    while True:
        try:
            record = journal.get(key)
        except errors.OSSError as exc:  # the journal is away (Redis): an error event ends the reply
            yield sse.frame(after + 1, "error", _error(exc, request_id))
            return
        if record is None:
            return  # expired meanwhile
        if record.event_id > after:
            after = record.event_id
            quiet_since = loop.time()
            yield record.frame
        if record.state == "done":
            return
        try:
            taken = journal.take(key, process_owner()) if record.state == "stopped" else None
            stream = None if taken is None else await _continue(journal, taken, after, start, request_id)
        except errors.OSSError as exc:  # the reply has started: an error event ends it
            yield sse.frame(after + 1, "error", _error(exc, request_id))
            return
        if stream is not None:
            async for event in _closing(stream):
                yield event
            return
        if loop.time() - quiet_since >= ping:
            quiet_since = loop.time()
            yield sse.PING
        await asyncio.sleep(POLL_SECONDS)
