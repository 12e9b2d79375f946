"""Tasks in a dict: for tests, and servers that need no restart to keep them."""

from __future__ import annotations

from dataclasses import replace

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

    async def claim(self, owner: str, now: float, lease: float) -> TaskRecord | None:
        for task in await self.unfinished():
            if task.state == "Queued" or task.lease_until < now:
                claimed = replace(
                    task,
                    state="Running",
                    owner=owner,
                    lease_until=now + lease,
                    started=now,
                    attempts=task.attempts + 1,
                )
                self.tasks[task.task_id] = claimed
                return claimed
        return None

    def _ours(self, task: TaskRecord) -> bool:
        current = self.tasks.get(task.task_id)
        return current is not None and current.state == "Running" and current.owner == task.owner

    async def renew(self, task: TaskRecord) -> bool:
        if not self._ours(task):
            return False
        self.tasks[task.task_id] = replace(
            self.tasks[task.task_id],
            lease_until=task.lease_until,
            progress_chars=task.progress_chars,
            progress_input_tokens=task.progress_input_tokens,
            progress_output_tokens=task.progress_output_tokens,
        )
        return True

    async def settle(self, task: TaskRecord) -> bool:
        if not self._ours(task):
            return False
        self.tasks[task.task_id] = task
        return True

    async def cancel(self, task_id: str, now: float) -> TaskRecord | None:
        task = self.tasks.get(task_id)
        if task is not None and task.state not in FINISHED:
            task = self.tasks[task_id] = replace(task, state="Cancelled", finished=now)
        return task

    async def expire(self, owner_prefix: str = "") -> int:
        expired = [
            t for t in self.tasks.values() if t.state == "Running" and t.owner.startswith(owner_prefix)
        ]
        for task in expired:
            self.tasks[task.task_id] = replace(task, lease_until=0.0)
        return len(expired)

    async def close(self) -> None:
        pass


def _id(task: TaskRecord) -> str:
    return task.task_id
