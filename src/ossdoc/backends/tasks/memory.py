"""Tasks in a dict: for tests, and servers that need no restart to keep them."""

from __future__ import annotations

from ossdoc.backends.tasks.base import FINISHED, TaskRecord


class MemoryTaskStore:
    def __init__(self) -> None:
        self.tasks: dict[str, TaskRecord] = {}

    async def add(self, task: TaskRecord) -> None:
        self.tasks[task.task_id] = task

    async def get(self, task_id: str) -> TaskRecord | None:
        return self.tasks.get(task_id)

    async def update(self, task: TaskRecord) -> None:
        self.tasks[task.task_id] = task

    async def unfinished(self) -> list[TaskRecord]:
        return sorted((t for t in self.tasks.values() if t.state not in FINISHED), key=_id)

    async def list(self, bucket: str, after: str, limit: int) -> list[TaskRecord]:
        found = sorted((t for t in self.tasks.values() if t.bucket == bucket and t.task_id > after), key=_id)
        return found[:limit]

    async def prune(self, finished_before: float) -> int:
        old = [
            t.task_id
            for t in self.tasks.values()
            if t.state in FINISHED and t.finished is not None and t.finished < finished_before
        ]
        for task_id in old:
            del self.tasks[task_id]
        return len(old)

    async def close(self) -> None:
        pass


def _id(task: TaskRecord) -> str:
    return task.task_id
