"""A failing model server behind a real ``ossdoc serve`` (OSSDOC_LLM=openai): the misbehaving
stub of openai_stub, in its own process, killed, stopped and made to send malformed streams.

Each fault must give a clear error (503 ServiceUnavailable in JSON, a final ``event: error`` in
SSE, a failed task that says why), and leave nothing stuck: the server has one slot and no room to
wait (queue size 0), so the normal request that follows each fault is admitted only if the failed
one gave its place back, which its log line confirms ("admitted: 1 in the queue")."""

from __future__ import annotations

import base64
import json
import re
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from doc_http import b64, error_code, make_bucket, post, signed_headers
from openai_stub import REPLY, StubProcess, wait_until
from ossdoc_server import RunningServer, free_port, running

STALL = 3  # seconds: OSSDOC_LLM_STALL_SECONDS of the server under test


@pytest.fixture(scope="module")
def stub() -> Iterator[StubProcess]:
    process = StubProcess(free_port())
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def server(stub: StubProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("faults") / "data"
    settings = {
        "llm": "openai",
        "openai_base_url": stub.base_url,
        "llm_stall_seconds": str(STALL),
        "llm_first_token_seconds": str(4 * STALL),
        "model_slots": "1",
        "queue_size": "0",
        "task_retries": "0",
        "cache_bytes": "0",  # a repeated request must reach the model
        "log_level": "info",
    }
    with running(data, **settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def bucket(server: RunningServer) -> str:
    return make_bucket(server)


def body(stream: bool) -> str:
    return f"x-oss-process=doc/polish,content_{b64('hello')}" + (",format_event-stream" if stream else "")


def events(reply: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) of an SSE reply, pings left out."""
    found = re.findall(r"id: \d+\nevent: (\w+)\ndata: (.*)\n\n", reply.text)
    return [(name, json.loads(data)) for name, data in found]


def served(server: RunningServer, stub: StubProcess, bucket: str) -> None:
    """A normal request after a fault is admitted and answered: the failed one left no place taken."""
    stub.ensure_running()
    reply = post(server, bucket, body(False))
    assert reply.status_code == 200, reply.text
    assert reply.json()["Output"]["Text"] == REPLY.rstrip()
    admitted = re.findall(r"doc/polish admitted: (\d+) in the queue", server.log.read_text())
    assert admitted[-1] == "1"


FAULTS = [
    ("die", "closed the connection in the middle of a reply"),
    ("hang", f"sent no token for {STALL} s"),
    ("truncate", "ended the stream before the end of the reply"),
    ("bad-json", "not JSON"),
    ("error-event", "CUDA out of memory"),
    ("status-500", "answered 500"),
    ("garbage", "not UTF-8"),
    ("html", "not an event stream"),
]


@pytest.mark.parametrize(("mode", "reason"), FAULTS)
def test_json_reply(server: RunningServer, stub: StubProcess, bucket: str, mode: str, reason: str) -> None:
    stub.mode(mode)
    reply = post(server, bucket, body(False))
    assert reply.status_code == 503
    assert error_code(reply) == "ServiceUnavailable"
    assert "The model backend is unavailable: the model server" in reply.text
    assert reason in reply.text
    served(server, stub, bucket)


@pytest.mark.parametrize(("mode", "reason"), FAULTS)
def test_event_stream(server: RunningServer, stub: StubProcess, bucket: str, mode: str, reason: str) -> None:
    stub.mode(mode)
    reply = post(server, bucket, body(True))
    assert reply.status_code == 200  # the stream had started: only an event can tell
    *progress, (name, data) = events(reply)
    assert all(event == "message" for event, _ in progress)
    assert name == "error"
    assert data["Code"] == "ServiceUnavailable"
    assert data["RequestId"] == reply.headers["x-oss-request-id"]
    assert data["Message"].startswith("The model backend is unavailable: the model server")
    assert reason in data["Message"]
    assert reply.text.endswith("\n\n")
    served(server, stub, bucket)


@pytest.mark.parametrize("stream", [False, True])
def test_a_server_that_is_down(server: RunningServer, stub: StubProcess, bucket: str, stream: bool) -> None:
    stub.stop()
    reply = post(server, bucket, body(stream))
    reason = f"The model backend is unavailable: the model server at {stub.base_url} is unreachable"
    if reply.status_code == 200:  # a stream (the server's tokenizer, if any, was not needed first)
        assert stream
        ((name, data),) = events(reply)
        assert (name, data["Code"]) == ("error", "ServiceUnavailable")
        assert data["Message"].startswith(reason)
    else:
        assert reply.status_code == 503
        assert error_code(reply) == "ServiceUnavailable"
        assert reason in reply.text
    served(server, stub, bucket)


@pytest.mark.parametrize("stream", [False, True])
def test_a_server_stopped_mid_stream(
    server: RunningServer, stub: StubProcess, bucket: str, stream: bool
) -> None:
    stub.mode("slow", 0.3)
    before = stub.stats()["completions"]
    replies: list[httpx.Response] = []
    request = threading.Thread(target=lambda: replies.append(post(server, bucket, body(stream))))
    request.start()
    wait_until(lambda: stub.stats()["completions"] > before, "the completion to start")
    stub.signal(signal.SIGSTOP)
    request.join(60)
    (reply,) = replies
    expected = f"the model server sent no token for {STALL} s"
    if stream:
        (name, data), *_ = reversed(events(reply))
        assert (name, data["Code"]) == ("error", "ServiceUnavailable")
        assert expected in data["Message"]
    else:
        assert reply.status_code == 503 and error_code(reply) == "ServiceUnavailable"
        assert expected in reply.text
    served(server, stub, bucket)


def enc(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def submit(server: RunningServer, bucket: str, target: str) -> str:
    process = f"doc/polish,content_{b64('hello')}|sys/saveas,o_{enc(target)}"
    query = "x-oss-async-process"
    reply = post(server, bucket, f"{query}={process}", key="doc.txt", query=query)
    assert reply.status_code == 200, reply.text
    task_id: str = reply.json()["TaskId"]
    return task_id


def finished(server: RunningServer, bucket: str, task_id: str) -> dict[str, Any]:
    def state() -> dict[str, Any]:
        headers = signed_headers(server, "GET", f"/{bucket}/")
        url = f"{server.endpoint}/{bucket}/"
        reply = httpx.get(url, params={"x-oss-async-task": task_id}, headers=headers, timeout=30)
        assert reply.status_code == 200, reply.text
        task: dict[str, Any] = reply.json()
        return task

    wait_until(lambda: state()["State"] not in ("Queued", "Running"), "the task to end")
    return state()


@pytest.mark.parametrize(("mode", "reason"), [("die", "closed the connection"), ("hang", "sent no token")])
def test_an_async_task_fails_and_says_why(
    server: RunningServer, stub: StubProcess, bucket: str, mode: str, reason: str
) -> None:
    stub.mode(mode)
    task = finished(server, bucket, submit(server, bucket, f"failed-{mode}.txt"))
    assert task["State"] == "Failed"
    assert task["Error"]["Code"] == "ServiceUnavailable"
    message = task["Error"]["Message"]
    assert message.startswith("The model backend is unavailable: the model server")
    assert reason in message and message.endswith("(gave up after 1 attempt)")
    stub.ensure_running()
    task = finished(server, bucket, submit(server, bucket, f"done-{mode}.txt"))
    assert task["State"] == "Succeeded", task
    served(server, stub, bucket)


def test_a_task_waits_out_a_restart_of_the_model_server(tmp_path: Path, stub: StubProcess) -> None:
    """With retries, a task outlives a model server that is down for a while."""
    settings = {"llm": "openai", "openai_base_url": stub.base_url, "task_retries": "5", "cache_bytes": "0"}
    with running(tmp_path / "data", **settings) as server:
        bucket = make_bucket(server)
        stub.stop()
        task_id = submit(server, bucket, "later.txt")
        wait_until(lambda: "model backend is unavailable" in server.log.read_text(), "a failed attempt")
        stub.ensure_running()
        task = finished(server, bucket, task_id)
        assert task["State"] == "Succeeded", task
        assert task["Attempts"] == 1  # retries within one attempt
