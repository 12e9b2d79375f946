"""Where asynchronous document tasks are kept: a small Protocol, so the SQLite store in the data dir
can give way to a shared database when several servers run one queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

State = Literal["Queued", "Running", "Succeeded", "Failed", "Cancelled"]
FINISHED: frozenset[State] = frozenset({"Succeeded", "Failed", "Cancelled"})


@dataclass(frozen=True)
class TaskRecord:
    task_id: str  # sortable: later tasks have greater ids
    bucket: str
    key: str  # the object in the request's path (the document when the process has no content)
    process: str  # the process string as submitted, e.g. doc/translate,...|sys/saveas,o_...
    request_id: str  # of the request that submitted it
    state: State
    created: float
    started: float | None = None
    finished: float | None = None
    attempts: int = 0  # how many times it started running
    output_bucket: str = ""
    output_key: str = ""
    output_size: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    chunks: int = 0
    error_code: str = ""
    error_message: str = ""
    # Who runs it, until when: a runner renews its lease while it works; one that dies loses it.
    owner: str = ""
    lease_until: float = 0.0
    # How far a running task has come, as its runner last wrote it.
    progress_chars: int = 0
    progress_input_tokens: int = 0
    progress_output_tokens: int = 0
    # The access key that submitted it: its generation's tokens count against that key's quota.
    access_key_id: str = ""


class TaskStore(Protocol):
    async def add(self, task: TaskRecord) -> None:
        """Durable once it returns: the task is not lost by a crash that follows."""

    async def get(self, task_id: str) -> TaskRecord | None: ...

    async def update(self, task: TaskRecord) -> None: ...

    async def unfinished(self) -> list[TaskRecord]:
        """Queued and Running tasks, oldest first."""

    async def list(self, bucket: str, after: str, limit: int) -> list[TaskRecord]:
        """A bucket's tasks with ids greater than ``after``, in id order."""

    async def prune(self, finished_before: float) -> int:
        """Forget finished tasks that ended before the given time; return how many."""

    async def claim(self, owner: str, now: float, lease: float) -> TaskRecord | None:
        """Atomically take the oldest task that is queued, or running under a lease that expired
        (its runner died): it is Running for ``owner`` until ``now + lease``, its attempt counted.
        None when there is nothing to run. Across processes, a task is claimed by one at a time."""

    async def renew(self, task: TaskRecord) -> bool:
        """Extend ``task``'s lease and write its progress, if ``task.owner`` still runs it (it was
        not cancelled, nor taken over after its lease expired)."""

    async def settle(self, task: TaskRecord) -> bool:
        """Write ``task`` (finished, or queued again) if ``task.owner`` still runs it."""

    async def cancel(self, task_id: str, now: float) -> TaskRecord | None:
        """Mark a queued or running task Cancelled (its runner learns it when it next renews);
        the task as it is afterwards, or None if there is no such task."""

    async def expire(self, owner_prefix: str = "") -> int:
        """End the leases of running tasks whose owner starts with ``owner_prefix`` (all: ""), so
        they can be claimed at once: their runner is known to be dead."""

    async def close(self) -> None: ...
