"""Replicas: two ``ossdoc serve`` with data dirs of their own, objects on one S3 store (SeaweedFS)
and state in one Redis, as behind a load balancer. A stream resumes on the other replica without a
second generation, the queue and the quotas are the cluster's, a task runs once.

The fake model is slow (a token every 20 ms) so that a stream is still being generated while the
other replica is asked; the cache is off, so that a repeat is a generation."""

from __future__ import annotations

import json
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import oss2
import pytest

from doc_http import b64, error_code, make_bucket, signed_headers
from ossdoc import keys
from ossdoc_server import RunningServer, running
from quota_helpers import as_key, clear_of_the_minute_end, process, submit
from redis_server import RunningRedis
from seaweedfs import RunningSeaweedFS

TEXT = " ".join(f"word{n}" for n in range(150))

Pair = tuple[RunningServer, RunningServer]


def start_pair(
    stack: ExitStack, base: Path, seaweedfs: RunningSeaweedFS, redis: RunningRedis, **settings: str
) -> Pair:
    shared = {
        **seaweedfs.settings(f"s3://replicas-{secrets.token_hex(4)}"),
        "redis_url": redis.url,
        "redis_prefix": f"replicas-{secrets.token_hex(4)}:",
        "fake_token_delay_ms": "20",
        "cache_bytes": "0",
        "queue_size": "0",  # one generation at a time in the whole cluster
        "log_level": "info",
        **settings,
    }
    first = stack.enter_context(running(base / "a" / "data", **shared))
    second = stack.enter_context(running(base / "b" / "data", **shared))
    return first, second


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, seaweedfs: RunningSeaweedFS, redis_server: RunningRedis
) -> Iterator[Pair]:
    with ExitStack() as stack:
        yield start_pair(stack, tmp_path_factory.mktemp("replicas"), seaweedfs, redis_server)


def events(body: bytes) -> list[tuple[int, str, dict[str, Any]]]:
    found = []
    for block in body.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "id" in fields:
            found.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return found


def stream_body(text: str) -> str:
    return f"x-oss-process=doc/polish,content_{b64(text)},format_event-stream"


def read_some_then_leave(server: RunningServer, bucket: str, text: str) -> int:
    """Open a stream, read until two events came, leave; the last event id seen."""
    headers = signed_headers(server, "POST", f"/{bucket}/k?x-oss-process")
    with (
        httpx.Client(timeout=60) as client,
        client.stream(
            "POST", f"{server.endpoint}/{bucket}/k?x-oss-process", content=stream_body(text), headers=headers
        ) as reply,
    ):
        assert reply.status_code == 200
        seen = b""
        for chunk in reply.iter_raw():
            seen += chunk
            if len(events(seen)) >= 2:
                return events(seen)[-1][0]
    raise AssertionError(f"the stream ended early: {seen!r}")


def wait_admitted(server: RunningServer, bucket: str, attempts: int = 300) -> httpx.Response:
    for _ in range(attempts):
        reply = process(server, bucket, "hi")
        if reply.status_code != 503:
            return reply
        time.sleep(0.1)
    raise AssertionError(f"still refused: {reply.text}")


def test_a_stream_resumes_on_the_other_replica_without_a_second_generation(replicas: Pair) -> None:
    first, second = replicas
    bucket = make_bucket(first)
    reference = wait_admitted(first, bucket) and process(first, bucket, TEXT)
    assert reference.status_code == 200, reference.text
    expected = reference.json()
    last_id = read_some_then_leave(first, bucket, TEXT)
    headers = signed_headers(second, "POST", f"/{bucket}/k?x-oss-process", {"Last-Event-ID": str(last_id)})
    for _ in range(100):  # until the first replica gave back its place, if it holds it still
        resumed = httpx.post(
            f"{second.endpoint}/{bucket}/k?x-oss-process",
            content=stream_body(TEXT),
            headers=headers,
            timeout=60,
        )
        if resumed.status_code != 503:
            break
        time.sleep(0.1)
    assert resumed.status_code == 200, resumed.text
    assert resumed.headers["x-oss-stream-resume"] in ("continue", "follow")
    got = events(resumed.content)
    assert got[0][0] >= last_id and got[-1][1] == "Result"
    result = got[-1][2]
    assert result["Output"]["Text"] == expected["Output"]["Text"]
    # Continued, not generated again: the counts go on from the first replica's.
    assert result["Usage"]["OutputTokens"] == expected["Usage"]["OutputTokens"]


def test_the_queue_is_the_cluster_s(replicas: Pair) -> None:
    first, second = replicas
    bucket = make_bucket(first)
    wait_admitted(first, bucket)
    headers = signed_headers(first, "POST", f"/{bucket}/q?x-oss-process")
    with (
        httpx.Client(timeout=60) as client,
        client.stream(
            "POST", f"{first.endpoint}/{bucket}/q?x-oss-process", content=stream_body(TEXT), headers=headers
        ) as holding,
    ):
        assert holding.status_code == 200
        chunks = holding.iter_raw()  # kept: a dropped iterator closes the response
        next(chunks)  # generating: it holds the cluster's one place
        refused = process(second, bucket, "hi")
        assert refused.status_code == 503 and error_code(refused) == "SlowDown"
        assert "Retry-After" in refused.headers
    assert wait_admitted(second, bucket).status_code == 200  # given back when its client left


def test_a_key_quota_is_counted_across_replicas(replicas: Pair) -> None:
    first, second = replicas
    created = keys.create(first.data, "for the replicas", rpm=2)
    # The replicas share keys by sharing the keys file (or the environment's pair).
    shutil.copy(first.data / "keys.json", second.data / "keys.json")
    user_a, user_b = (as_key(s, created.id, created.secret) for s in replicas)
    bucket = make_bucket(first)
    auth = oss2.Auth(user_b.access_key_id, user_b.access_key_secret)
    for _ in range(50):  # the second replica reads the copied file within a second
        try:
            oss2.Bucket(auth, second.endpoint, bucket).get_bucket_info()
            break
        except oss2.exceptions.OssError:
            time.sleep(0.1)
    clear_of_the_minute_end(40)
    wait_admitted(first, bucket)
    assert process(user_a, bucket).status_code == 200
    assert process(user_b, bucket).status_code == 200
    for user in (user_a, user_b):
        refused = process(user, bucket)
        assert error_code(refused) == "SlowDown" and "2 document requests" in refused.text


def task_state(server: RunningServer, bucket: str, task_id: str) -> dict[str, Any]:
    headers = signed_headers(server, "GET", f"/{bucket}/")
    reply = httpx.get(
        f"{server.endpoint}/{bucket}/", params={"x-oss-async-task": task_id}, headers=headers, timeout=30
    )
    assert reply.status_code == 200, reply.text
    state: dict[str, Any] = reply.json()
    return state


def test_tasks_submitted_to_one_replica_run_once(replicas: Pair) -> None:
    first, second = replicas
    bucket = make_bucket(first)
    ids = []
    for n in range(4):
        reply = submit(first if n % 2 else second, bucket, f"task number {n}")
        assert reply.status_code == 200, reply.text
        ids.append(reply.json()["TaskId"])
    for task_id in ids:
        for _ in range(600):
            state = task_state(second, bucket, task_id)
            if state["State"] not in ("Queued", "Running"):
                break
            time.sleep(0.1)
        assert state["State"] == "Succeeded", state
        assert state["Attempts"] == 1
    auth = oss2.Auth(first.access_key_id, first.access_key_secret)
    assert oss2.Bucket(auth, second.endpoint, bucket).get_object("out.txt").read()


def test_a_result_cached_by_one_replica_answers_a_repeat_on_the_other(
    tmp_path: Path, seaweedfs: RunningSeaweedFS, redis_server: RunningRedis
) -> None:
    with ExitStack() as stack:
        first, second = start_pair(stack, tmp_path, seaweedfs, redis_server, cache_bytes="1048576")
        bucket = make_bucket(first)
        ran = process(first, bucket, "cached across replicas")
        assert ran.status_code == 200, ran.text
        repeat = process(second, bucket, "cached across replicas")
        assert repeat.json()["Output"] == ran.json()["Output"]
        assert "answered from the result cache" in second.log.read_text()
