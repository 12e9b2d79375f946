"""Asynchronous document tasks (``x-oss-async-process``): submitted, answered at once with a task id,
run in the background one after another, their result stored where ``sys/saveas`` says.

A task is in the task store before its id is handed out, and every change of its state is written
as it happens, so a restart loses none: queued tasks wait again and a task that was running starts
over. A task interrupted by a crash ``MAX_ATTEMPTS`` times (it may be what crashes the server) is
marked failed rather than started again and again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial

from ossdoc import errors
from ossdoc.backends.state import process_owner
from ossdoc.backends.tasks import FINISHED, State, TaskRecord, TaskStore
from ossdoc.services.docs import pipeline, quotas
from ossdoc.services.docs.generation import Progress
from ossdoc.services.docs.pipeline import Outcome
from ossdoc.services.docs.service import DocumentService
from ossdoc.services.objects import ObjectStore

log = logging.getLogger("ossdoc.tasks")
MAX_ATTEMPTS = 3
RETENTION_SECONDS = 7 * 24 * 3600  # finished tasks are forgotten after a week
# A busy queue (SlowDown) is waited out; an unavailable model backend is retried (by default 5
# times), after a pause that doubles up to MAX_BACKOFF.
MAX_BACKOFF = 30.0
LEASE_SECONDS = 20.0  # a runner renews every quarter of it
POLL_SECONDS = 1.0  # how often an idle runner looks for tasks submitted in another process

Watch = Callable[[Progress], None]
Execute = Callable[[TaskRecord, Watch], Awaitable[Outcome]]


def executor(docs: DocumentService, store: ObjectStore, limit: int) -> Execute:
    """Run a task as the JSON reply would run its request (``limit``: largest stored document)."""

    async def execute(task: TaskRecord, watch: Watch) -> Outcome:
        request = docs.parse_process(task.process)
        return await pipeline.run(docs, store, request, task.bucket, task.key, limit, watch)

    return execute


_last_id_time = 0


def new_task_id() -> str:
    """Sortable by submission time (microseconds, hex; strictly increasing in a process, so tasks
    are run in the order they came), then 64 random bits."""
    global _last_id_time
    _last_id_time = max(time.time_ns() // 1000, _last_id_time + 1)
    return f"doc-{_last_id_time:014x}-{secrets.token_hex(8)}"


class TaskRunner:
    """Runs tasks from the store. Several runners (one per worker process) share one store: each
    claims a task under a lease it renews while it works, so a task runs in one place at a time and
    one whose runner died is taken up by another once the lease has expired (at once, when the
    supervisor reports the death: ``TaskStore.expire``)."""

    def __init__(
        self,
        store: TaskStore,
        execute: Execute,
        *,
        workers: int = 1,
        retries: int = 5,
        owner: str | None = None,
        lease: float = LEASE_SECONDS,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.store = store
        self.execute = execute
        self.workers = workers
        self.retries = retries
        self.owner = owner or process_owner()
        self.lease = lease
        self.poll = poll
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[Outcome]] = {}
        self._claims: dict[str, TaskRecord] = {}  # the running tasks as claimed, by id
        self._lost: set[str] = set()  # running tasks cancelled, or no longer ours: nothing to write
        self._progress: dict[str, Progress] = {}  # the latest step of each running task
        self._workers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        pruned = await self.store.prune(time.time() - RETENTION_SECONDS)
        if pruned:
            log.info("forgot %d tasks finished more than a week ago", pruned)
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.workers)]
        self._workers.append(asyncio.create_task(self._renew_leases()))

    async def submit(
        self, bucket: str, key: str, process: str, request_id: str, access_key_id: str = ""
    ) -> TaskRecord:
        task = TaskRecord(
            new_task_id(),
            bucket,
            key,
            process,
            request_id,
            "Queued",
            time.time(),
            access_key_id=access_key_id,
        )
        await self.store.add(task)
        self._wake.set()
        log.info("task %s queued: %s on %s/%s", task.task_id, process.split(",")[0], bucket, key)
        return task

    async def get(self, bucket: str, task_id: str) -> TaskRecord:
        task = await self.store.get(task_id)
        if task is None or task.bucket != bucket:
            raise errors.NoSuchTask(TaskId=task_id)
        return task

    def progress(self, task_id: str) -> Progress | None:
        """How far a task running here has come (one running elsewhere: its record's progress)."""
        return self._progress.get(task_id)

    async def list(self, bucket: str, after: str, limit: int) -> list[TaskRecord]:
        return await self.store.list(bucket, after, limit)

    async def cancel(self, bucket: str, task_id: str) -> TaskRecord:
        """Cancel a queued or running task; a finished one is left as it is. A task running in
        another process stops when its runner next renews its lease."""
        await self.get(bucket, task_id)
        task = await self.store.cancel(task_id, time.time())
        assert task is not None
        running = self._running.get(task_id)
        if running is not None:
            self._lost.add(task_id)
            running.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.shield(running)
        log.info("task %s: %s", task_id, task.state.lower())
        return task

    async def close(self) -> None:
        """Stop the workers. A task interrupted here is queued again, without counting the attempt."""
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def _next(self) -> TaskRecord:
        while True:
            self._wake.clear()
            try:
                task = await self.store.claim(self.owner, time.time(), self.lease)
            except errors.ServiceUnavailable as exc:  # a shared store away: tried again at the next poll
                log.warning("tasks: %s", exc.message)
                task = None
            if task is not None:
                return task
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)

    async def _work(self) -> None:
        while True:
            task = await self._next()
            task_id = task.task_id
            if task.attempts > MAX_ATTEMPTS:
                message = (
                    f"The task was interrupted {task.attempts - 1} times (its runner stopped while it ran)."
                )
                await self._finish(task, "Failed", error=("InternalError", message))
                continue
            if task.attempts > 1:
                log.info("task %s was interrupted: it starts over (attempt %d)", task_id, task.attempts)
            running = asyncio.create_task(self._attempt(task))
            self._running[task_id], self._claims[task_id] = running, task
            try:
                outcome = await asyncio.shield(running)
            except asyncio.CancelledError:
                if task_id in self._lost:
                    continue
                # The server is stopping: the task waits for the next start.
                running.cancel()
                with contextlib.suppress(BaseException):
                    await running
                await self.store.settle(replace(task, state="Queued", attempts=task.attempts - 1))
                raise
            except errors.OSSError as exc:
                log.info("task %s failed: %s %s", task_id, exc.code, exc.message)
                await self._finish(task, "Failed", error=(exc.code, exc.message))
            except Exception:
                log.exception("task %s failed", task_id)
                await self._finish(task, "Failed", error=("InternalError", "Document processing failed."))
            else:
                await self._finish(task, "Succeeded", outcome=outcome)
            finally:
                self._running.pop(task_id, None)
                self._claims.pop(task_id, None)
                self._lost.discard(task_id)
                self._progress.pop(task_id, None)

    async def _renew_leases(self) -> None:
        """Renew the lease of every task running here, with its progress; stop a task that is no
        longer ours (cancelled from another process, or taken over)."""
        while True:
            await asyncio.sleep(self.lease / 4)
            for task_id, claimed in list(self._claims.items()):
                step = self._progress.get(task_id)
                renewed = replace(
                    claimed,
                    lease_until=time.time() + self.lease,
                    progress_chars=len(step.text) if step else 0,
                    progress_input_tokens=step.input_tokens if step else 0,
                    progress_output_tokens=step.output_tokens if step else 0,
                )
                try:
                    if await self.store.renew(renewed):
                        continue
                except errors.ServiceUnavailable as exc:  # the lease may run out: the claim decides
                    log.warning("tasks: lease of %s not renewed: %s", task_id, exc.message)
                    continue
                running = self._running.get(task_id)
                if running is not None and task_id not in self._lost:
                    log.info("task %s was cancelled or taken over: stopping it here", task_id)
                    self._lost.add(task_id)
                    running.cancel()

    async def _attempt(self, task: TaskRecord) -> Outcome:
        """Run the task, waiting out a full queue and retrying an unavailable model backend."""
        delay, failures = 1.0, 0
        quotas.account.set(task.access_key_id)  # this task's own context: its tokens are its key's
        while True:
            try:
                return await self.execute(task, partial(self._progress.__setitem__, task.task_id))
            except errors.SlowDown:
                pass
            except errors.ServiceUnavailable as exc:
                failures += 1
                if failures > self.retries:
                    attempts = f"{failures} attempts" if failures > 1 else "1 attempt"
                    raise errors.ServiceUnavailable(f"{exc.message} (gave up after {attempts})") from exc
                log.warning("task %s: %s; retry in %.0f s", task.task_id, exc.message, delay)
            await asyncio.sleep(delay)
            delay = min(2 * delay, MAX_BACKOFF)

    async def _finish(
        self,
        task: TaskRecord,
        state: State,
        *,
        outcome: Outcome | None = None,
        error: tuple[str, str] = ("", ""),
    ) -> TaskRecord:
        assert state in FINISHED
        done = replace(task, state=state, finished=time.time(), error_code=error[0], error_message=error[1])
        if outcome is not None:
            result, saved = outcome.result, outcome.saved
            done = replace(
                done,
                input_tokens=result.input_tokens,
                output_tokens=result.output_tokens,
                chunks=result.chunks,
            )
            if saved is not None:
                done = replace(done, output_bucket=saved.bucket, output_key=saved.key, output_size=saved.size)
        if not await self.store.settle(done):
            log.info(
                "task %s: no longer ours (cancelled or taken over); its end is not recorded", task.task_id
            )
            return done
        log.info("task %s %s", task.task_id, state.lower())
        return done
