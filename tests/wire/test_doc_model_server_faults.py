"""A real model server (llama-cpp-python's, SmolLM2) behind a real ``ossdoc serve``, killed with
SIGKILL or stopped with SIGSTOP in the middle of a streamed reply: the stream ends with an
``event: error``, and once the model server is back the next request is served."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator

import httpx
import pytest

from doc_http import b64, make_bucket, post, signed_headers
from llama_server import LlamaServer
from ossdoc.models import resolve_model
from ossdoc_server import RunningServer, free_port, running

pytestmark = pytest.mark.model
STALL = 30  # seconds; generous: on a busy machine SmolLM2 on llama-cpp-python may pause for seconds
STORY = "Once upon a time, in a small village by the sea, there lived an old fisherman who"


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    model = resolve_model("smollm2-135m", tmp_path_factory.mktemp("models"))
    server = LlamaServer(model, free_port(), tmp_path_factory.mktemp("llama") / "log")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def server(llama: LlamaServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = {
        "llm": "openai",
        "openai_base_url": llama.base_url,
        "llm_stall_seconds": str(STALL),
        "context_size": "2048",
        "max_output_tokens": "200",
        "queue_size": "0",
        "cache_bytes": "0",
    }
    with running(tmp_path_factory.mktemp("faults") / "data", **settings) as srv:
        yield srv


def stream_until_fault(
    server: RunningServer, bucket: str, fault: Callable[[], None]
) -> tuple[str, dict[str, str]]:
    """Start a long streamed reply, cause ``fault`` after its first event, and return the last event.
    ("Result" when the model had finished before the fault: the caller tries again.)"""
    process = f"doc/continue,content_{b64(STORY)},format_event-stream"
    headers = signed_headers(server, "POST", f"/{bucket}/story.txt?x-oss-process")
    url = f"{server.endpoint}/{bucket}/story.txt?x-oss-process"
    with (
        httpx.Client(timeout=120) as client,
        client.stream("POST", url, content=f"x-oss-process={process}", headers=headers) as reply,
    ):
        assert reply.status_code == 200
        lines = reply.iter_lines()
        name = data = ""
        for line in lines:
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
                if name == "message":
                    break
        fault()
        for line in lines:
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
    parsed: dict[str, str] = json.loads(data)
    return name, parsed


def served(server: RunningServer, bucket: str) -> None:
    process = f"doc/polish,content_{b64('The sky are blue.')}"  # a short reply (64 tokens at most)
    reply = post(server, bucket, f"x-oss-process={process}", timeout=120)
    assert reply.status_code == 200, reply.text
    assert reply.json()["Output"]["FinishReason"] == "stop"


@pytest.mark.parametrize("fault", ["SIGKILL", "SIGSTOP"])
def test_a_model_server_failing_mid_stream(server: RunningServer, llama: LlamaServer, fault: str) -> None:
    bucket = make_bucket(server)
    expected = "closed the connection" if fault == "SIGKILL" else f"sent no token for {STALL} s"
    for _ in range(3):  # SmolLM2 may finish before the fault: then again
        act = llama.kill if fault == "SIGKILL" else lambda: llama.signal(signal.SIGSTOP)
        name, data = stream_until_fault(server, bucket, act)
        if fault == "SIGKILL":
            llama.start()
        else:
            llama.signal(signal.SIGCONT)
        if name != "Result":
            break
    assert name == "error", data
    assert data["Code"] == "ServiceUnavailable"
    assert expected in data["Message"], data
    served(server, bucket)
