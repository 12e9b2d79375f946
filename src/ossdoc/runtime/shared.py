"""What the supervisor does to the state its workers share in the data dir: set it up before they
start, and take back what a worker that died held."""

from __future__ import annotations

import logging
from pathlib import Path

from ossdoc.backends.state import admission, owner_prefix
from ossdoc.backends.state.streams import StreamJournal
from ossdoc.backends.tasks.sqlite import expire_leases

log = logging.getLogger("ossdoc.supervisor")


def admission_path(data: Path) -> Path:
    return data / "run" / "admission.sqlite3"


def tasks_path(data: Path) -> Path:
    return data / "tasks.sqlite3"


def streams_path(data: Path) -> Path:
    return data / "run" / "streams.sqlite3"


def prepare(data: Path) -> None:
    """Before any worker starts: nothing of an earlier run holds a place in the queue, and the
    tasks it was running can be taken up at once (their attempt is counted)."""
    admission.clear(admission_path(data))
    expire_leases(tasks_path(data), owner_prefix())
    _stop_streams(data, owner_prefix())


def worker_exited(data: Path, pid: int) -> None:
    """A worker has exited (or died): the places in the queue it held are free again, and the tasks
    it ran can be taken up by another worker at once."""
    try:
        admission.forget(admission_path(data), pid)
        expire_leases(tasks_path(data), owner_prefix(pid))
        _stop_streams(data, owner_prefix(pid))
    except Exception:  # the supervisor must go on whatever happens here
        log.exception("could not reclaim what worker %d held", pid)


def _stop_streams(data: Path, prefix: str) -> None:
    """Streams a dead process was generating can be continued by a client that resumes them."""
    journal = StreamJournal(streams_path(data))
    try:
        journal.stop_owner(prefix)
    finally:
        journal.close()
