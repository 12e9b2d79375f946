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

    async def close(self) -> None: ...
