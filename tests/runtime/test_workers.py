"""``ossdoc serve --workers 2`` (fake model): a dead worker is replaced, SIGTERM drains and exits 0,
the admission queue is one for the machine, a stream resumes on another worker, and a task runs
once. Which worker a connection reaches is the kernel's choice: tests that need two workers to
take part retry with new connections until the log shows both did."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import oss2
import pytest

from doc_http import b64, make_bucket, post, signed_headers
from ossdoc_server import RunningServer, running

WORDS = " ".join(f"word{n}" for n in range(60))
LONG = " ".join(f"word{n}" for n in range(400))


@pytest.fixture(scope="module")
def duo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("duo") / "data"
    settings = {"workers": "2", "queue_size": "1", "fake_token_delay_ms": "20", "log_level": "info"}
    with running(data, **settings) as server:
        yield server


def wait_for(condition: object, what: str, attempts: int = 400) -> None:
    for _ in range(attempts):
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def log_since(server: RunningServer, offset: int) -> str:
    return server.log.read_bytes()[offset:].decode(errors="replace")


def sse_body(text: str) -> str:
    return f"x-oss-process=doc/polish,content_{b64(text)},format_event-stream"


def open_stream(
    server: RunningServer, bucket: str, text: str, headers: dict[str, str] | None = None
) -> tuple[httpx.Client, httpx.Response]:
    client = httpx.Client(timeout=30)
    signed = signed_headers(server, "POST", f"/{bucket}/k?x-oss-process", headers)
    request = client.build_request(
        "POST", f"{server.endpoint}/{bucket}/k?x-oss-process", content=sse_body(text), headers=signed
    )
    return client, client.send(request, stream=True)


def events(reply: httpx.Response, limit: int | None = None) -> Iterator[tuple[int, str, dict[str, object]]]:
    """(id, event, data) of each event, until the stream ends or ``limit`` were read."""
    count, block = 0, ""
    for line in reply.iter_lines():
        if line:
            block += line + "\n"
            continue
        if block.startswith(":") or not block:
            block = ""
            continue
        fields = dict(item.split(": ", 1) for item in block.strip().split("\n"))
        block = ""
        yield int(fields["id"]), fields["event"], json.loads(fields["data"])
        count += 1
        if limit is not None and count >= limit:
            return


def test_a_killed_worker_is_restarted_and_the_others_keep_serving(duo: RunningServer) -> None:
    workers = duo.children()
    assert len(workers) == 2
    auth = oss2.Auth(duo.access_key_id, duo.access_key_secret)
    bucket = oss2.Bucket(auth, duo.endpoint, make_bucket(duo))
    failures: list[Exception] = []
    done = threading.Event()

    def traffic() -> None:
        n = 0
        while not done.is_set():
            try:
                bucket.put_object(f"k{n % 8}", b"x" * 100)
                assert bucket.get_object(f"k{n % 8}").read() == b"x" * 100
            except Exception as exc:  # in flight on the killed worker
                failures.append(exc)
            n += 1

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        time.sleep(0.3)
        import os

        os.kill(workers[0], signal.SIGKILL)
        wait_for(lambda: len(duo.children()) == 2 and workers[0] not in duo.children(), "a new worker")
        time.sleep(0.3)
    finally:
        done.set()
        thread.join()
    assert len(failures) <= 2, failures  # at most what was in flight on the dead worker
    for n in range(20):  # and every request after succeeds
        bucket.put_object(f"after{n}", b"ok")
        assert bucket.get_object(f"after{n}").read() == b"ok"


def test_the_admission_queue_is_one_for_the_machine(duo: RunningServer) -> None:
    bucket = make_bucket(duo)
    for attempt in range(8):
        offset = duo.log.stat().st_size
        streams = [open_stream(duo, bucket, f"{LONG} {attempt} {n}") for n in range(4)]
        try:
            codes = [reply.status_code for _, reply in streams]
            log = log_since(duo, offset)
        finally:
            for client, reply in streams:
                reply.close()
                client.close()
        pids = set(re.findall(r"ossdoc\.docs\[(\d+)\]: doc/polish (?:admitted|refused)", log))
        # One slot and one place in the queue, whichever worker each request reached.
        assert sorted(codes) == [200, 200, 503, 503], (codes, log)
        if len(pids) == 2:
            return
        wait_for(
            lambda: post(duo, bucket, "x-oss-process=doc/polish,content_aGk", key="k").status_code == 200,
            "a free queue",
        )
    pytest.fail("the four requests never reached both workers")


def test_a_stream_resumes_on_another_worker_without_a_second_generation(duo: RunningServer) -> None:
    bucket = make_bucket(duo)
    for attempt in range(30):
        text = f"{WORDS} resume {attempt}"
        offset = duo.log.stat().st_size
        client, reply = open_stream(duo, bucket, text)
        seen = list(events(reply, limit=3))
        reply.close()
        client.close()
        last_id = seen[-1][0]
        # The disconnect stops the generation; the resumed request continues it.
        wait_for(lambda at=offset: "cancelled after" in log_since(duo, at), "the cancel")
        for _ in range(attempt % 3):  # other connections between: the kernel's choice of worker varies
            httpx.get(duo.endpoint)
        client, reply = open_stream(duo, bucket, text, {"Last-Event-ID": str(last_id)})
        with closing(client), closing(reply):
            assert reply.status_code == 200
            how = reply.headers["x-oss-stream-resume"]
            rest = list(events(reply))
        log = log_since(duo, offset)
        # continue, or follow (the first connection not yet seen gone) which then continues it
        assert how in ("continue", "follow"), log
        assert [event for _, event, _ in rest][-1] == "Result"
        ids = [event_id for event_id, _, _ in rest]
        assert ids == sorted(ids) and ids[0] >= last_id and len(set(ids)) == len(ids)
        final = rest[-1][2]
        # The whole text, and the counts of one generation: the same request in one go (another
        # object key, so another stream) gives the same.
        whole = post(duo, bucket, sse_body(text).replace(",format_event-stream", ""), key="other")
        assert whole.status_code == 200
        assert final["Output"] == {"Text": whole.json()["Output"]["Text"], "FinishReason": "stop"}
        assert final["Usage"] == whole.json()["Usage"]
        first_pid = re.search(r"ossdoc\.docs\[(\d+)\]: doc/polish admitted", log)
        resumed_pid = re.search(r"ossdoc\.sse\[(\d+)\]: stream resumed", log)
        assert first_pid and resumed_pid, log
        if first_pid.group(1) != resumed_pid.group(1):
            return
    pytest.fail("the resumed request never reached the other worker")


def test_resuming_a_finished_stream_replays_its_end_and_an_unknown_one_is_fresh(duo: RunningServer) -> None:
    bucket = make_bucket(duo)
    client, reply = open_stream(duo, bucket, "short text to finish")
    with closing(client), closing(reply):
        whole = list(events(reply))
    assert whole[-1][1] == "Result"
    client, reply = open_stream(duo, bucket, "short text to finish", {"Last-Event-ID": "0"})
    with closing(client), closing(reply):
        assert reply.headers["x-oss-stream-resume"] == "replay"
        assert list(events(reply)) == [whole[-1]]
    client, reply = open_stream(duo, bucket, "never streamed before", {"Last-Event-ID": "4"})
    with closing(client), closing(reply):
        assert reply.headers["x-oss-stream-resume"] == "fresh"
        fresh = list(events(reply))
    assert fresh[0][0] == 0 and fresh[-1][1] == "Result"


def test_an_async_task_runs_once_with_two_workers(duo: RunningServer) -> None:
    bucket = make_bucket(duo)
    offset = duo.log.stat().st_size
    key = base64_key("once.txt")
    process = f"doc/polish,content_{b64(WORDS)}|sys/saveas,o_{key}"
    reply = post(duo, bucket, f"x-oss-async-process={process}", query="x-oss-async-process")
    assert reply.status_code == 200, reply.text
    task_id = reply.json()["TaskId"]
    state: dict[str, object] = {}

    def finished() -> bool:
        nonlocal state
        headers = signed_headers(duo, "GET", f"/{bucket}/")  # the task id is not a signed sub-resource
        params = {"x-oss-async-task": task_id}
        state = httpx.get(f"{duo.endpoint}/{bucket}/", params=params, headers=headers).json()
        return state["State"] == "Succeeded"

    wait_for(finished, "the task")
    assert state["Attempts"] == 1
    assert log_since(duo, offset).count(f"task {task_id} succeeded") == 1


def base64_key(key: str) -> str:
    import base64

    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def test_sigterm_drains_the_workers_and_exits_0(tmp_path: Path) -> None:
    with running(tmp_path / "data", workers="2", fake_token_delay_ms="20") as server:
        bucket = make_bucket(server)
        client, reply = open_stream(server, bucket, WORDS)
        with closing(client), closing(reply):
            stream = events(reply)
            first = next(stream)
            server.process.send_signal(signal.SIGTERM)
            rest = list(stream)  # the request in flight is finished, not cut
        assert first[1] == "message" and rest[-1][1] == "Result"
        assert server.process.wait(30) == 0
        assert server.children() == []
