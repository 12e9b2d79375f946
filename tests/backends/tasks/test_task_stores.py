from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from ossdoc.backends.tasks import MemoryTaskStore, SQLiteTaskStore, TaskRecord, TaskStore
from ossdoc.backends.tasks.redis import RedisTaskStore

pytestmark = pytest.mark.anyio


def task(task_id: str, bucket: str = "b", state: str = "Queued", finished: float | None = None) -> TaskRecord:
    return TaskRecord(
        task_id, bucket, "doc.txt", "doc/summarize|sys/saveas,o_eA", "req", state, 1.0, finished=finished
    )  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TaskStore]:
    opened: TaskStore
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url
        opened = RedisTaskStore(url, prefix=f"test-{secrets.token_hex(4)}:")
    elif request.param == "sqlite":
        opened = await SQLiteTaskStore.open(tmp_path / "t.db")
    else:
        opened = MemoryTaskStore()
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


async def test_a_claim_takes_the_oldest_queued_task_under_a_lease(store: TaskStore) -> None:
    await store.add(task("t2"))
    await store.add(task("t1"))
    claimed = await store.claim("me", now=100.0, lease=20.0)
    assert claimed is not None and claimed.task_id == "t1"
    assert (claimed.state, claimed.owner, claimed.lease_until, claimed.attempts) == (
        "Running",
        "me",
        120.0,
        1,
    )
    assert await store.get("t1") == claimed
    second = await store.claim("you", now=101.0, lease=20.0)
    assert second is not None and second.task_id == "t2"
    assert await store.claim("you", now=102.0, lease=20.0) is None  # both run, under live leases


async def test_an_expired_lease_is_claimed_again_and_its_old_owner_loses_it(store: TaskStore) -> None:
    await store.add(task("t1"))
    mine = await store.claim("dead", now=100.0, lease=20.0)
    assert mine is not None
    assert await store.claim("other", now=110.0, lease=20.0) is None
    taken = await store.claim("other", now=121.0, lease=20.0)
    assert taken is not None and taken.owner == "other" and taken.attempts == 2
    assert not await store.renew(replace(mine, lease_until=200.0))
    assert not await store.settle(replace(mine, state="Succeeded"))
    assert await store.renew(replace(taken, lease_until=200.0, progress_chars=7))
    assert (await store.get("t1")).progress_chars == 7  # type: ignore[union-attr]
    assert await store.settle(replace(taken, state="Succeeded", finished=130.0))
    assert (await store.get("t1")).state == "Succeeded"  # type: ignore[union-attr]


async def test_expire_ends_the_leases_of_one_owner(store: TaskStore) -> None:
    await store.add(task("t1"))
    await store.add(task("t2"))
    await store.claim("host:1:a", now=100.0, lease=20.0)
    await store.claim("host:2:b", now=100.0, lease=20.0)
    assert await store.expire("host:1:") == 1
    again = await store.claim("host:3:c", now=101.0, lease=20.0)
    assert again is not None and again.task_id == "t1"


async def test_cancel_marks_a_queued_or_running_task_and_leaves_a_finished_one(store: TaskStore) -> None:
    await store.add(task("q"))
    await store.add(task("done", state="Succeeded", finished=5.0))
    cancelled = await store.cancel("q", 50.0)
    assert cancelled is not None and cancelled.state == "Cancelled" and cancelled.finished == 50.0
    finished = await store.cancel("done", 50.0)
    assert finished is not None and finished.state == "Succeeded"
    assert await store.cancel("missing", 50.0) is None


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_claims_from_two_connections_never_share_a_task(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    import asyncio

    stores: list[TaskStore]
    if backend == "redis":
        url, prefix = request.getfixturevalue("redis_server").url, f"test-{secrets.token_hex(4)}:"
        stores = [RedisTaskStore(url, prefix) for _ in range(2)]
    else:
        stores = [await SQLiteTaskStore.open(tmp_path / "tasks.sqlite3") for _ in range(2)]
    try:
        for n in range(30):
            await stores[0].add(task(f"t{n:02d}"))
        claims = await asyncio.gather(*(stores[n % 2].claim(f"o{n % 2}", 100.0, 20.0) for n in range(40)))
        ids = [c.task_id for c in claims if c is not None]
        assert sorted(ids) == [f"t{n:02d}" for n in range(30)]
    finally:
        for store in stores:
            await store.close()


async def test_a_store_of_an_earlier_version_gets_the_new_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "tasks.sqlite3"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE tasks (task_id TEXT PRIMARY KEY, bucket ANY, key ANY, process ANY, request_id ANY,"
        " state ANY, created ANY, started ANY, finished ANY, attempts ANY, output_bucket ANY,"
        " output_key ANY, output_size ANY, input_tokens ANY, output_tokens ANY, chunks ANY,"
        " error_code ANY, error_message ANY) STRICT"
    )
    db.execute("INSERT INTO tasks VALUES ('t1','b','k','p','r','Queued',1.0,NULL,NULL,0,'','',0,0,0,0,'','')")
    db.commit()
    db.close()
    store = await SQLiteTaskStore.open(path)
    try:
        claimed = await store.claim("me", 10.0, 5.0)
        assert claimed is not None and claimed.task_id == "t1" and claimed.owner == "me"
    finally:
        await store.close()
