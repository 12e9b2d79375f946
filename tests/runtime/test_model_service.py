"""The model service behind two workers, on the small real model: loaded once, killed mid-stream
(clear errors, then it is back), and a disconnect through a worker stops it within a token."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from doc_http import b64, make_bucket, post, signed_headers
from ossdoc_server import RunningServer, running

pytestmark = pytest.mark.model
CANCELLED = r"generation cancelled: (\d+) token computed after the cancel(?: \(a step of (\d+)\))?"
TEXT = "Our town has a river, a market and an old mill. " * 10


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = {
        "llm": "local",
        "model": "smollm2-135m",
        "workers": "2",
        "log_level": "info",
        "cache_bytes": "0",
    }
    with running(tmp_path_factory.mktemp("model") / "data", **settings) as server:
        yield server


def model_service(server: RunningServer) -> int:
    """The child that has llama.cpp mapped: the model service, and it alone."""
    loaded = []
    for pid in server.children():
        maps = Path(f"/proc/{pid}/maps").read_text()
        if "libllama" in maps:
            loaded.append(pid)
    assert len(loaded) == 1, loaded
    return loaded[0]


def stream(
    server: RunningServer, bucket: str, operation: str = "enrich"
) -> tuple[httpx.Client, httpx.Response]:
    client = httpx.Client(timeout=120)
    resource = f"/{bucket}/doc.txt?x-oss-process"
    body = f"x-oss-process=doc/{operation},content_{b64(TEXT)},format_event-stream"
    request = client.build_request(
        "POST", f"{server.endpoint}{resource}", content=body, headers=signed_headers(server, "POST", resource)
    )
    return client, client.send(request, stream=True)


def answered(server: RunningServer, bucket: str) -> httpx.Response:
    """A short request, retried while the model service (re)starts or the queue is busy."""
    deadline = time.monotonic() + 90
    while True:
        reply = post(
            server,
            bucket,
            "x-oss-process=doc/polish,content_" + b64("hello there"),
            key="doc.txt",
            timeout=90,
        )
        if reply.status_code == 200 or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


def test_the_model_is_loaded_once(served: RunningServer) -> None:
    assert len(served.children()) == 3  # two workers and the model service
    model_service(served)


def test_a_dead_model_service_gives_clear_errors_then_comes_back(served: RunningServer) -> None:
    bucket = make_bucket(served)
    pid = model_service(served)
    client, reply = stream(served, bucket)
    with closing(client), closing(reply):
        lines = reply.iter_lines()
        for line in lines:
            if line.startswith("id: "):
                break  # the model is generating
        os.kill(pid, signal.SIGKILL)
        rest = "\n".join(lines)
    assert "event: error" in rest and '"Code":"ServiceUnavailable"' in rest, rest
    # A request while it is down waits for the restart, and the service is back: a new process,
    # with the model loaded once again.
    assert answered(served, bucket).status_code == 200
    assert model_service(served) != pid


def test_a_disconnect_through_a_worker_stops_the_model_within_a_token(served: RunningServer) -> None:
    bucket = make_bucket(served)
    offset = served.log.stat().st_size
    for _attempt in range(5):  # a small model may end its reply before the third event
        client, reply = stream(served, bucket)
        with closing(client), closing(reply):
            events = 0
            for line in reply.iter_lines():
                events += line.startswith("id: ")
                if events == 3 or line == "event: Result":
                    break
        assert answered(served, bucket).status_code == 200
        if "doc/enrich cancelled after" in served.log.read_bytes()[offset:].decode():
            break
    log = served.log.read_bytes()[offset:].decode()
    # One token of work at most: a token, or one verification step of speculative decoding.
    found = re.findall(
        r"generation cancelled: (\d+) token computed after the cancel(?: \(a step of (\d+)\))?", log
    )
    assert found and all(int(n) <= int(step or 1) for n, step in found), log[-3000:]


def test_a_stream_resumes_on_the_real_model_without_a_second_generation(served: RunningServer) -> None:
    bucket = make_bucket(served)
    client, reply = stream(served, bucket, "continue")
    with closing(client), closing(reply):
        seen = []
        for line in reply.iter_lines():
            if line.startswith("id: "):
                seen.append(int(line[4:]))
            if line == "event: Result" or len(seen) == 3:
                break
    if len(seen) < 3:
        pytest.skip("the model ended its reply before the third event")
    resource = f"/{bucket}/doc.txt?x-oss-process"
    body = f"x-oss-process=doc/continue,content_{b64(TEXT)},format_event-stream"
    deadline = time.monotonic() + 60
    while True:  # the disconnect is seen, the generation stops, then it can be continued
        headers = signed_headers(served, "POST", resource, {"Last-Event-ID": str(seen[-1])})
        resumed = httpx.post(f"{served.endpoint}{resource}", content=body, headers=headers, timeout=300)
        if resumed.headers.get("x-oss-stream-resume") != "follow" or time.monotonic() > deadline:
            break
    assert resumed.status_code == 200
    assert resumed.headers["x-oss-stream-resume"] in ("continue", "replay"), resumed.headers
    ids = [int(line[4:]) for line in resumed.text.splitlines() if line.startswith("id: ")]
    assert ids and ids[0] >= seen[-1] and "event: Result" in resumed.text
    final = json.loads(resumed.text.rsplit("data: ", 1)[1])
    # One generation's counts: the prompt counted once, the tokens going on from where it stopped.
    assert final["Usage"]["OutputTokens"] >= len(seen) and final["Output"]["Text"].strip()


def test_an_async_task_runs_once_on_the_real_model(served: RunningServer) -> None:
    bucket = make_bucket(served)
    offset = served.log.stat().st_size
    key = base64.urlsafe_b64encode(b"polished.txt").decode().rstrip("=")
    process = f"doc/polish,content_{b64('the cat sat on the mat and looked at the moon')}|sys/saveas,o_{key}"
    reply = post(served, bucket, f"x-oss-async-process={process}", query="x-oss-async-process")
    assert reply.status_code == 200, reply.text
    task_id = reply.json()["TaskId"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        headers = signed_headers(served, "GET", f"/{bucket}/")
        state = httpx.get(
            f"{served.endpoint}/{bucket}/", params={"x-oss-async-task": task_id}, headers=headers
        ).json()
        if state["State"] in ("Succeeded", "Failed"):
            break
        time.sleep(0.5)
    assert state["State"] == "Succeeded" and state["Attempts"] == 1, state
    assert served.log.read_bytes()[offset:].decode().count(f"task {task_id} succeeded") == 1
