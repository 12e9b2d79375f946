"""Redis gone: document requests get a clear ``503 ServiceUnavailable`` naming it (the reply had not
started), storage requests go on, and all recovers when Redis is back; a replica killed outright
leaves nothing held for good."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import oss2
import pytest

from doc_http import b64, error_code, make_bucket, post, signed_headers
from ossdoc_server import RunningServer, running
from quota_helpers import process, submit
from redis_server import RunningRedis, binary
from redis_server import running as redis_running


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RunningRedis]:
    """A Redis of this test's own: it is stopped and started again."""
    if binary() is None:
        pytest.skip("redis-server is not installed (scripts/bootstrap test installs it)")
    with redis_running(tmp_path / "redis") as server:
        yield server


def until_ok(attempt: object, tries: int = 100) -> httpx.Response:
    for _ in range(tries):
        reply = attempt()  # type: ignore[operator]
        if reply.status_code == 200:
            return reply  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"never recovered: {reply.status_code} {reply.text}")


def test_a_redis_outage_gives_clear_errors_and_service_recovers(
    own_redis: RunningRedis, tmp_path: Path
) -> None:
    with running(tmp_path / "data", redis_url=own_redis.url, cache_bytes="0", log_level="info") as server:
        bucket = make_bucket(server)
        assert process(server, bucket).status_code == 200
        own_redis.stop()
        for reply in (process(server, bucket), process(server, bucket, stream=True), submit(server, bucket)):
            assert reply.status_code == 503 and error_code(reply) == "ServiceUnavailable"
            assert "Redis" in reply.text
        ready = httpx.get(f"{server.endpoint}/-/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json()["shared_state"] is False
        auth = oss2.Auth(server.access_key_id, server.access_key_secret)
        oss2.Bucket(auth, server.endpoint, bucket).put_object("still.txt", b"storage does not need Redis")
        own_redis.restart()
        until_ok(lambda: process(server, bucket))
        assert httpx.get(f"{server.endpoint}/-/readyz", timeout=30).json()["shared_state"] is True
        assert process(server, bucket, stream=True).status_code == 200
        task_id = until_ok(lambda: submit(server, bucket)).json()["TaskId"]
        state = wait_task(server, bucket, task_id)
        assert state["State"] == "Succeeded", state
        assert "Traceback" not in server.log.read_text()


def wait_task(server: RunningServer, bucket: str, task_id: str) -> dict[str, object]:
    for _ in range(300):
        headers = signed_headers(server, "GET", f"/{bucket}/")
        reply = httpx.get(
            f"{server.endpoint}/{bucket}/", params={"x-oss-async-task": task_id}, headers=headers, timeout=30
        )
        state: dict[str, object] = reply.json()
        if state["State"] not in ("Queued", "Running"):
            return state
        time.sleep(0.1)
    return state


def test_a_stream_of_a_killed_replica_is_continued_by_another(
    own_redis: RunningRedis, tmp_path: Path
) -> None:
    settings = {
        "redis_url": own_redis.url,
        "fake_token_delay_ms": "30",
        "cache_bytes": "0",
        "queue_size": "0",
        "log_level": "info",
    }
    text = " ".join(f"word{n}" for n in range(200))
    body = f"x-oss-process=doc/polish,content_{b64(text)},format_event-stream"
    with running(tmp_path / "b" / "data", **settings) as survivor:
        doomed = running(tmp_path / "a" / "data", **settings)
        victim = doomed.__enter__()
        try:
            bucket_a = make_bucket(victim)
            # Local storage here: the bucket must exist on the survivor too.
            oss2.Bucket(
                oss2.Auth(survivor.access_key_id, survivor.access_key_secret), survivor.endpoint, bucket_a
            ).create_bucket()
            headers = signed_headers(victim, "POST", f"/{bucket_a}/k?x-oss-process")
            client = httpx.Client(timeout=60)
            with client.stream(
                "POST", f"{victim.endpoint}/{bucket_a}/k?x-oss-process", content=body, headers=headers
            ) as reply:
                chunks = reply.iter_raw()
                seen = next(chunks)
                while seen.count(b"\n\n") < 2:
                    seen += next(chunks)
                victim.kill()  # the whole replica at once: nothing of it reports its death
        finally:
            doomed.__exit__(None, None, None)
        last = max(int(line[4:]) for line in seen.decode().splitlines() if line.startswith("id: "))
        resume = signed_headers(
            survivor, "POST", f"/{bucket_a}/k?x-oss-process", {"Last-Event-ID": str(last)}
        )
        resumed = httpx.post(
            f"{survivor.endpoint}/{bucket_a}/k?x-oss-process", content=body, headers=resume, timeout=120
        )
        assert resumed.status_code == 200, resumed.text
        assert resumed.headers["x-oss-stream-resume"] == "follow"  # until the dead replica is reaped
        assert b"event: Result" in resumed.content and b"WORD199" in resumed.content
        # Its place in the cluster's queue was reclaimed with it.
        assert (
            post(survivor, bucket_a, f"x-oss-process=doc/polish,content_{b64('hi')}", key="x").status_code
            == 200
        )
