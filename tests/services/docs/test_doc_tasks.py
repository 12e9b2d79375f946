"""The task runner on an in-memory store, with a scripted ``execute``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import pytest

from ossdoc import errors
from ossdoc.backends.tasks import MemoryTaskStore, TaskRecord
from ossdoc.services.docs import Progress
from ossdoc.services.docs import tasks as tasks_module
from ossdoc.services.docs.pipeline import Outcome, Saved
from ossdoc.services.docs.tasks import MAX_ATTEMPTS, TaskRunner

pytestmark = pytest.mark.anyio
PROCESS = "doc/summarize|sys/saveas,o_b3V0"
DONE = Outcome(Progress("short", "stop", 40, 7, 3), Saved("b", "out", 5))


class Script:
    """``execute`` that runs the next of its steps: an Outcome, an exception, or an awaitable."""

    def __init__(self, *steps: object) -> None:
        self.steps = list(steps)
        self.calls: list[str] = []
        self.release = asyncio.Event()

    async def __call__(self, task: TaskRecord, watch: Callable[[Progress], None]) -> Outcome:
        self.calls.append(task.task_id)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, BaseException):
            raise step
        if step == "block":
            watch(Progress("so far", None, 40, 2))
            await self.release.wait()
            return DONE
        assert isinstance(step, Outcome)
        return step


async def runner_for(
    script: Callable[[TaskRecord], Awaitable[Outcome]], store: MemoryTaskStore | None = None
) -> TaskRunner:
    runner = TaskRunner(store or MemoryTaskStore(), script)
    await runner.start()
    return runner


async def until(runner: TaskRunner, task_id: str, *states: str) -> TaskRecord:
    for _ in range(500):
        task = await runner.get("b", task_id)
        if task.state in states:
            return task
        await asyncio.sleep(0.01)
    raise AssertionError(f"{task_id} is {task.state}, not {states}")


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    real_sleep = asyncio.sleep
    monkeypatch.setattr(tasks_module.asyncio, "sleep", lambda seconds: real_sleep(0))


@pytest.fixture
async def cleanup() -> AsyncIterator[list[TaskRunner]]:
    runners: list[TaskRunner] = []
    yield runners
    for runner in runners:
        await runner.close()


async def test_a_task_runs_and_records_its_result(cleanup: list[TaskRunner]) -> None:
    runner = await runner_for(Script(DONE))
    cleanup.append(runner)
    queued = await runner.submit("b", "doc.txt", PROCESS, "req-1")
    assert queued.state == "Queued" and queued.task_id.startswith("doc-")
    done = await until(runner, queued.task_id, "Succeeded")
    assert (done.output_bucket, done.output_key, done.output_size) == ("b", "out", 5)
    assert (done.input_tokens, done.output_tokens, done.chunks, done.attempts) == (40, 7, 3, 1)
    assert done.started is not None and done.finished is not None and done.error_code == ""


async def test_an_oss_error_fails_the_task_with_its_code(cleanup: list[TaskRunner]) -> None:
    runner = await runner_for(Script(errors.NoSuchKey("The specified key does not exist.")))
    cleanup.append(runner)
    failed = await until(runner, (await runner.submit("b", "gone", PROCESS, "r")).task_id, "Failed")
    assert (failed.error_code, failed.error_message) == ("NoSuchKey", "The specified key does not exist.")


async def test_an_unexpected_error_fails_the_task_as_internal(cleanup: list[TaskRunner]) -> None:
    runner = await runner_for(Script(RuntimeError("boom")))
    cleanup.append(runner)
    failed = await until(runner, (await runner.submit("b", "k", PROCESS, "r")).task_id, "Failed")
    assert failed.error_code == "InternalError" and "boom" not in failed.error_message


async def test_a_full_queue_is_waited_out(cleanup: list[TaskRunner]) -> None:
    script = Script(errors.SlowDown(), errors.SlowDown(), errors.SlowDown(), DONE)
    runner = await runner_for(script)
    cleanup.append(runner)
    task = await runner.submit("b", "k", PROCESS, "r")
    assert (await until(runner, task.task_id, "Succeeded")).attempts == 1
    assert len(script.calls) == 4


async def test_an_unavailable_backend_is_retried_then_fails(cleanup: list[TaskRunner]) -> None:
    script = Script(errors.ServiceUnavailable("The model backend is unavailable: refused"))
    runner = await runner_for(script)
    cleanup.append(runner)
    failed = await until(runner, (await runner.submit("b", "k", PROCESS, "r")).task_id, "Failed")
    assert failed.error_code == "ServiceUnavailable"
    assert failed.error_message == "The model backend is unavailable: refused (gave up after 6 attempts)"
    assert len(script.calls) == runner.retries + 1 == 6


async def test_tasks_run_one_after_another_in_order(cleanup: list[TaskRunner]) -> None:
    script = Script("block")
    runner = await runner_for(script)
    cleanup.append(runner)
    first = await runner.submit("b", "k", PROCESS, "r")
    second = await runner.submit("b", "k", PROCESS, "r")
    await until(runner, first.task_id, "Running")
    assert (await runner.get("b", second.task_id)).state == "Queued"
    while runner.progress(first.task_id) is None:
        await asyncio.sleep(0.01)
    assert runner.progress(first.task_id) == Progress("so far", None, 40, 2)
    assert runner.progress(second.task_id) is None
    script.release.set()
    await until(runner, second.task_id, "Succeeded")
    assert script.calls == [first.task_id, second.task_id]
    assert runner.progress(first.task_id) is None  # kept only while it runs


async def test_cancel_a_queued_and_a_running_task(cleanup: list[TaskRunner]) -> None:
    script = Script("block")
    runner = await runner_for(script)
    cleanup.append(runner)
    running = await runner.submit("b", "k", PROCESS, "r")
    queued = await runner.submit("b", "k", PROCESS, "r")
    await until(runner, running.task_id, "Running")
    while not script.calls:  # running: inside execute
        await asyncio.sleep(0.01)
    assert (await runner.cancel("b", queued.task_id)).state == "Cancelled"
    assert (await runner.cancel("b", running.task_id)).state == "Cancelled"
    assert script.calls == [running.task_id]  # the queued one never ran
    after = await runner.submit("b", "k", PROCESS, "r")  # the worker goes on
    script.release.set()
    await until(runner, after.task_id, "Succeeded")
    finished = await runner.cancel("b", after.task_id)
    assert finished.state == "Succeeded"  # a finished task stays as it is


async def test_unknown_or_foreign_task_is_no_such_task(cleanup: list[TaskRunner]) -> None:
    runner = await runner_for(Script(DONE))
    cleanup.append(runner)
    task = await runner.submit("b", "k", PROCESS, "r")
    with pytest.raises(errors.NoSuchTask):
        await runner.get("other-bucket", task.task_id)
    with pytest.raises(errors.NoSuchTask):
        await runner.cancel("b", "doc-unknown")


async def test_a_stop_requeues_the_running_task_without_counting_it() -> None:
    store, script = MemoryTaskStore(), Script("block")
    runner = await runner_for(script, store)
    task = await runner.submit("b", "k", PROCESS, "r")
    await until(runner, task.task_id, "Running")
    await runner.close()
    stopped = await store.get(task.task_id)
    assert stopped is not None and (stopped.state, stopped.attempts) == ("Queued", 0)
    script.release.set()
    again = await runner_for(script, store)
    try:
        assert (await until(again, task.task_id, "Succeeded")).attempts == 1
    finally:
        await again.close()


async def test_after_a_crash_running_tasks_start_over_and_repeated_crashes_fail() -> None:
    store = MemoryTaskStore()
    record = TaskRecord("doc-1", "b", "k", PROCESS, "r", "Running", 1.0, started=2.0, attempts=1)
    doomed = replace(record, task_id="doc-2", attempts=MAX_ATTEMPTS)
    queued = replace(record, task_id="doc-3", state="Queued", attempts=0, started=None)
    for task in (record, doomed, queued):
        await store.add(task)
    runner = await runner_for(Script(DONE), store)
    try:
        assert (await until(runner, "doc-1", "Succeeded")).attempts == 2
        assert (await until(runner, "doc-3", "Succeeded")).attempts == 1
        failed = await runner.get("b", "doc-2")
        assert failed.state == "Failed" and failed.error_code == "InternalError"
        assert "interrupted" in failed.error_message
    finally:
        await runner.close()


async def test_old_finished_tasks_are_forgotten_at_start() -> None:
    store = MemoryTaskStore()
    await store.add(TaskRecord("doc-old", "b", "k", PROCESS, "r", "Succeeded", 1.0, finished=2.0))
    runner = await runner_for(Script(DONE), store)
    await runner.close()
    assert await store.get("doc-old") is None
