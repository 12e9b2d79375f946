"""The model queue and client disconnects, through real servers whose fake model is slow.

No assertion here is on elapsed time. A slow fake (50 ms a token, a reply of a thousand tokens)
makes "the generation was stopped" observable by its effects: with no room to wait in the queue,
a new request is admitted again only once the abandoned generation gave back its place, long
before it could have finished, and the server logs the cancellation."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from doc_http import b64, error_code, make_bucket, post, signed_headers
from ossdoc_server import RunningServer, running

LONG = " ".join(f"word{n}" for n in range(1000))


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("slow") / "data"
    with running(data, queue_size="1", fake_token_delay_ms="50", log_level="info") as server:
        yield server


def body(text: str, stream: bool) -> str:
    return f"x-oss-process=doc/polish,content_{b64(text)}" + (",format_event-stream" if stream else "")


class Stream:
    """An SSE request kept open until closed: like a client that reads a little, then leaves."""

    def __init__(self, server: RunningServer, bucket: str, text: str) -> None:
        self.client = httpx.Client(timeout=30)
        headers = signed_headers(server, "POST", f"/{bucket}/k?x-oss-process")
        url = f"{server.endpoint}/{bucket}/k?x-oss-process"
        self.reply = self.client.send(
            self.client.build_request("POST", url, content=body(text, True), headers=headers), stream=True
        )
        self.chunks = self.reply.iter_raw()

    def next_event(self) -> bytes:
        return next(self.chunks)

    def close(self) -> None:
        self.reply.close()
        self.client.close()


def wait_admitted(server: RunningServer, bucket: str, attempts: int = 100) -> httpx.Response:
    """Retry a short request while the queue answers SlowDown."""
    for _ in range(attempts):
        reply = post(server, bucket, body("hi", False), key="k")
        if reply.status_code != 503:
            return reply
        time.sleep(0.1)
    raise AssertionError("the queue never freed up")


def test_a_full_queue_answers_slow_down(slow: RunningServer) -> None:
    bucket = make_bucket(slow)
    running_one = Stream(slow, bucket, LONG)
    try:
        assert running_one.reply.status_code == 200
        assert running_one.next_event().startswith(b"id: 0\nevent: message\n")  # it runs
        waiting = Stream(slow, bucket, LONG)  # admitted: its reply has started, it waits
        try:
            assert waiting.reply.status_code == 200
            for stream in (True, False):
                refused = post(slow, bucket, body("hi", stream), key="k")
                assert refused.status_code == 503
                assert error_code(refused) == "SlowDown"
                assert int(refused.headers["Retry-After"]) >= 1
        finally:
            waiting.close()
    finally:
        running_one.close()
    assert wait_admitted(slow, bucket).status_code == 200


def test_a_disconnect_stops_the_generation(tmp_path: Path) -> None:
    with running(tmp_path / "data", queue_size="0", fake_token_delay_ms="50", log_level="info") as server:
        bucket = make_bucket(server)
        stream = Stream(server, bucket, LONG)
        events = [stream.next_event(), stream.next_event()]
        assert all(e.startswith(b"id: ") for e in events)
        # With no room to wait, another request is refused while the generation runs...
        assert post(server, bucket, body("hi", False), key="k").status_code == 503
        stream.close()
        # ...and admitted soon after the client left: the 1000-token reply did not run to its end.
        reply = wait_admitted(server, bucket)
        assert reply.status_code == 200, reply.text
        log = server.log.read_text()
    assert re.search(r"doc/polish cancelled after \d+ output tokens", log), log[-2000:]
    assert log.count("doc/polish done") == 1  # only the short request finished
