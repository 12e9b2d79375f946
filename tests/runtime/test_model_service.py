"""The model service behind two workers, on the small real model: loaded once, killed mid-stream
(clear errors, then it is back), and a disconnect through a worker stops it within a token."""

from __future__ import annotations

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
    counts = [int(n) for n in re.findall(r"generation cancelled: (\d+) token computed after the cancel", log)]
    assert counts and max(counts) <= 1, log[-3000:]
