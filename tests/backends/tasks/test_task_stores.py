from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from ossdoc.backends.tasks import MemoryTaskStore, SQLiteTaskStore, TaskRecord, TaskStore

pytestmark = pytest.mark.anyio


def task(task_id: str, bucket: str = "b", state: str = "Queued", finished: float | None = None) -> TaskRecord:
    return TaskRecord(
        task_id, bucket, "doc.txt", "doc/summarize|sys/saveas,o_eA", "req", state, 1.0, finished=finished
    )  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TaskStore]:
    opened: TaskStore = (
        MemoryTaskStore() if request.param == "memory" else await SQLiteTaskStore.open(tmp_path / "t.db")
    )
    yield opened
    await opened.close()


async def test_add_get_update(store: TaskStore) -> None:
    await store.add(task("t1"))
    assert await store.get("t1") == task("t1")
    assert await store.get("t2") is None
    done = replace(
        task("t1"), state="Succeeded", finished=5.0, output_key="out.txt", output_size=12, chunks=3
    )
    await store.update(done)
    assert await store.get("t1") == done


async def test_unfinished_are_queued_and_running_in_id_order(store: TaskStore) -> None:
    for record in (task("t3", state="Running"), task("t1"), task("t2", state="Failed", finished=2.0)):
        await store.add(record)
    assert [t.task_id for t in await store.unfinished()] == ["t1", "t3"]


async def test_list_pages_one_bucket(store: TaskStore) -> None:
    for n in range(5):
        await store.add(task(f"t{n}", bucket="b" if n % 2 == 0 else "other"))
    assert [t.task_id for t in await store.list("b", "", 2)] == ["t0", "t2"]
    assert [t.task_id for t in await store.list("b", "t2", 2)] == ["t4"]
    assert await store.list("none", "", 10) == []


async def test_prune_forgets_only_old_finished_tasks(store: TaskStore) -> None:
    await store.add(task("old", state="Succeeded", finished=10.0))
    await store.add(task("new", state="Failed", finished=100.0))
    await store.add(task("queued"))
    assert await store.prune(50.0) == 1
    assert await store.get("old") is None
    assert await store.get("new") is not None and await store.get("queued") is not None


async def test_sqlite_tasks_survive_reopening(tmp_path: Path) -> None:
    first = await SQLiteTaskStore.open(tmp_path / "tasks.sqlite3")
    await first.add(task("t1", state="Running"))
    await first.close()
    second = await SQLiteTaskStore.open(tmp_path / "tasks.sqlite3")
    try:
        assert await second.get("t1") == task("t1", state="Running")
    finally:
        await second.close()
