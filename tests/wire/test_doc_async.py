"""``x-oss-async-process``: a task id at once, the result stored by saveas, status polled, and tasks
that survive a restart of the server."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import alibabacloud_oss_v2 as oss
import docx
import httpx
import oss2
import pytest

from doc_files import make_docx
from doc_http import b64, error_code, make_bucket, post, signed_headers
from ossdoc.services.docs import pipeline
from ossdoc_server import RunningServer, running


def enc(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def tasks(
    server: RunningServer, bucket: str, task_id: str = "", method: str = "GET", **query: str
) -> httpx.Response:
    """GET (or DELETE) ``/<bucket>/?x-oss-async-task[=<id>]``, V1-signed as oss2 signs it."""
    params = {"x-oss-async-task": task_id, **query}
    headers = signed_headers(server, method, f"/{bucket}/")
    return httpx.request(method, f"{server.endpoint}/{bucket}/", params=params, headers=headers, timeout=30)


def wait(
    server: RunningServer, bucket: str, task_id: str, *states: str, timeout: float = 60
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        reply = tasks(server, bucket, task_id)
        assert reply.status_code == 200, reply.text
        task: dict[str, object] = reply.json()
        if task["State"] in states or time.monotonic() > deadline:
            assert task["State"] in states, task
            return task
        time.sleep(0.05)


def oss2_bucket(server: RunningServer, name: str) -> oss2.Bucket:
    return oss2.Bucket(oss2.Auth(server.access_key_id, server.access_key_secret), server.endpoint, name)


def test_oss2_async_process_stores_the_result(server: RunningServer) -> None:
    bucket = oss2_bucket(server, make_bucket(server))
    bucket.put_object("notes.md", b"first paragraph\n\nsecond paragraph")
    process = f"doc/translate,language_en_US|sys/saveas,o_{enc('out/notes.en.txt')}"
    result = bucket.async_process_object("notes.md", process)
    assert result.status == 200 and result.task_id.startswith("doc-")
    assert result.event_id and result.async_request_id == result.request_id
    task = wait(server, bucket.bucket_name, result.task_id, "Succeeded")
    stored = bucket.get_object("out/notes.en.txt")
    text = stored.read().decode()
    assert "FIRST PARAGRAPH\n\nSECOND PARAGRAPH" in text  # the fake backend shouts the prompt back
    assert stored.headers["Content-Type"] == "text/plain;charset=utf-8"
    assert task["Output"] == {
        "Bucket": bucket.bucket_name,
        "Object": "out/notes.en.txt",
        "FileSize": len(text),
    }
    assert task["Object"] == "notes.md" and task["Process"] == process
    assert task["RequestId"] == result.request_id and task["Attempts"] == 1
    usage = task["Usage"]
    assert isinstance(usage, dict) and usage["OutputTokens"] > 0
    assert {"CreationTime", "StartTime", "EndTime"} <= set(task)


@pytest.mark.parametrize("signature_version", ["v4", "v1"])
def test_v2_sdk_submits_and_polls(server: RunningServer, signature_version: str) -> None:
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        server.access_key_id, server.access_key_secret
    )
    cfg.region, cfg.endpoint, cfg.signature_version = "cn-hangzhou", server.endpoint, signature_version
    client = oss.Client(cfg)
    bucket = make_bucket(server)
    process = f"doc/summarize,content_{b64('one two three')}|sys/saveas,o_{enc('summary.txt')}"
    result = client.async_process_object(
        oss.AsyncProcessObjectRequest(bucket=bucket, key="x", process=process)
    )
    assert result.task_id and result.event_id and result.process_request_id
    for _ in range(600):
        output = client.invoke_operation(
            oss.OperationInput(
                op_name="GetAsyncTask",
                method="GET",
                bucket=bucket,
                parameters={"x-oss-async-task": result.task_id},
            )
        )
        task = json.loads(output.http_response.content)
        if task["State"] == "Succeeded":
            break
        time.sleep(0.05)
    assert task["State"] == "Succeeded", task
    got = client.get_object(oss.GetObjectRequest(bucket=bucket, key="summary.txt"))
    assert "ONE TWO THREE" in got.body.read().decode()


def test_a_failing_task_reports_its_error(server: RunningServer) -> None:
    bucket = make_bucket(server)
    oss2_bucket(server, bucket).put_object("image.png", b"\x89PNG\r\n\x1a\n" + bytes(100))
    process = f"doc/summarize|sys/saveas,o_{enc('s.txt')}"
    reply = post(
        server, bucket, f"x-oss-async-process={process}", key="image.png", query="x-oss-async-process"
    )
    assert reply.status_code == 200, reply.text
    task = wait(server, bucket, reply.json()["TaskId"], "Failed")
    error = task["Error"]
    assert isinstance(error, dict) and error["Code"] == "InvalidArgument" and "image/png" in error["Message"]
    assert "Output" not in task and "Usage" not in task


@pytest.mark.parametrize(
    ("process", "key", "status", "code"),
    [
        ("doc/summarize,content_" + b64("x"), "k", 400, "InvalidArgument"),  # no saveas
        (
            f"doc/summarize,format_event-stream,content_{b64('x')}|sys/saveas,o_{enc('o')}",
            "k",
            400,
            "InvalidArgument",
        ),
        (f"doc/summarize|sys/saveas,o_{enc('o')}", "missing.txt", 404, "NoSuchKey"),
        (
            f"doc/summarize,content_{b64('x')}|sys/saveas,o_{enc('o')},b_{enc('no-such-bucket-x')}",
            "k",
            404,
            "NoSuchBucket",
        ),
        (
            f"doc/summarize,content_{b64('x')}|sys/saveas,o_{enc('o')},b_{enc('Bad_Name')}",
            "k",
            400,
            "InvalidBucketName",
        ),
        (f"doc/nothing,content_{b64('x')}|sys/saveas,o_{enc('o')}", "k", 400, "InvalidArgument"),
        (f"doc/summarize,content_{b64('x')}|sys/saveas,o_{enc('o.docx')}", "k", 400, "InvalidArgument"),
        (f"doc/summarize,content_{b64('x')}|sys/resize,w_10", "k", 400, "InvalidArgument"),
    ],
)
def test_bad_submissions_are_refused_and_queue_nothing(
    server: RunningServer, process: str, key: str, status: int, code: str
) -> None:
    bucket = make_bucket(server)
    reply = post(server, bucket, f"x-oss-async-process={process}", key=key, query="x-oss-async-process")
    assert (reply.status_code, error_code(reply)) == (status, code), reply.text
    assert tasks(server, bucket).json() == {"Tasks": [], "IsTruncated": False}


def test_the_body_must_name_the_async_field(server: RunningServer) -> None:
    bucket = make_bucket(server)
    process = f"doc/summarize,content_{b64('x')}|sys/saveas,o_{enc('o')}"
    reply = post(server, bucket, f"x-oss-process={process}", query="x-oss-async-process")
    assert (reply.status_code, error_code(reply)) == (400, "InvalidArgument")


def test_unknown_tasks_and_tasks_of_other_buckets(server: RunningServer) -> None:
    bucket, other = make_bucket(server), make_bucket(server)
    process = f"doc/summarize,content_{b64('x')}|sys/saveas,o_{enc('o')}"
    task_id = post(server, bucket, f"x-oss-async-process={process}", query="x-oss-async-process").json()[
        "TaskId"
    ]
    for name, wanted in ((bucket, "doc-0000"), (other, task_id)):
        reply = tasks(server, name, wanted)
        assert (reply.status_code, error_code(reply)) == (404, "NoSuchTask")
    reply = tasks(server, bucket, method="DELETE")
    assert (reply.status_code, error_code(reply)) == (400, "InvalidArgument")
    reply = tasks(server, "no-such-bucket-y", task_id)
    assert (reply.status_code, error_code(reply)) == (404, "NoSuchBucket")
    unsigned = httpx.get(f"{server.endpoint}/{bucket}/", params={"x-oss-async-task": task_id})
    assert (unsigned.status_code, error_code(unsigned)) == (403, "AccessDenied")


def test_listing_pages_through_a_buckets_tasks(server: RunningServer) -> None:
    bucket = make_bucket(server)
    ids = []
    for n in range(5):
        process = f"doc/summarize,content_{b64(f'text {n}')}|sys/saveas,o_{enc(f'out{n}.txt')}"
        ids.append(
            post(server, bucket, f"x-oss-async-process={process}", query="x-oss-async-process").json()[
                "TaskId"
            ]
        )
    first = tasks(server, bucket, **{"max-keys": "3"}).json()
    assert [t["TaskId"] for t in first["Tasks"]] == ids[:3] and first["IsTruncated"] is True
    rest = tasks(server, bucket, marker=first["NextMarker"]).json()
    assert [t["TaskId"] for t in rest["Tasks"]] == ids[3:] and rest["IsTruncated"] is False


def slow_server(data: Path) -> running:  # type: ignore[valid-type]
    return running(data, fake_token_delay_ms="100", cache_bytes="0")


def submit_long(server: RunningServer, bucket: str, words: int = 40) -> str:
    text = " ".join(f"word{n}" for n in range(words))
    process = f"doc/polish,content_{b64(text)}|sys/saveas,o_{enc('long.txt')}"
    reply = post(server, bucket, f"x-oss-async-process={process}", query="x-oss-async-process")
    assert reply.status_code == 200, reply.text
    task_id: str = reply.json()["TaskId"]
    return task_id


def test_cancel_a_running_task(tmp_path: Path) -> None:
    with slow_server(tmp_path / "data") as server:
        bucket = make_bucket(server)
        task_id = submit_long(server, bucket)
        wait(server, bucket, task_id, "Running")
        for _ in range(200):  # the status shows the text growing
            progress = tasks(server, bucket, task_id).json().get("Progress")
            if progress and progress["Characters"] > 0:
                break
            time.sleep(0.05)
        assert progress["OutputTokens"] > 0 and progress["InputTokens"] > 0
        reply = tasks(server, bucket, task_id, method="DELETE")
        assert reply.status_code == 200 and reply.json()["State"] == "Cancelled"
        assert oss2_bucket(server, bucket).object_exists("long.txt") is False


def test_a_task_survives_a_crash_and_a_queued_one_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with slow_server(data) as server:
        bucket = make_bucket(server)
        running_id = submit_long(server, bucket)
        queued_id = submit_long(server, bucket, words=5)
        wait(server, bucket, running_id, "Running")
        server.kill()  # SIGKILL: no chance to record anything
    with slow_server(data) as server:
        crashed = wait(server, bucket, running_id, "Succeeded")
        assert crashed["Attempts"] == 2  # it started over
        assert wait(server, bucket, queued_id, "Succeeded")["Attempts"] == 1
        text = oss2_bucket(server, bucket).get_object("long.txt").read().decode()
        assert "WORD0" in text


def test_a_graceful_stop_requeues_the_running_task(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with slow_server(data) as server:
        bucket = make_bucket(server)
        task_id = submit_long(server, bucket)
        wait(server, bucket, task_id, "Running")
        server.stop()  # SIGTERM: uvicorn shuts down, then re-raises the signal
    with slow_server(data) as server:
        task = wait(server, bucket, task_id, "Succeeded")
        assert task["Attempts"] == 1  # a stop is not a failed attempt


def test_a_docx_is_translated_in_place_by_a_task_and_by_a_request(server: RunningServer) -> None:
    bucket = oss2_bucket(server, make_bucket(server))
    bucket.put_object("report.docx", make_docx())
    source = docx.Document(io.BytesIO(make_docx()))
    for n, submit in enumerate(("x-oss-async-process", "x-oss-process")):
        target = f"report.{n}.fr.docx"
        process = f"doc/translate,language_fr_FR|sys/saveas,o_{enc(target)}"
        reply = post(server, bucket.bucket_name, f"{submit}={process}", key="report.docx", query=submit)
        assert reply.status_code == 200, reply.text
        if submit == "x-oss-async-process":
            wait(server, bucket.bucket_name, reply.json()["TaskId"], "Succeeded")
        else:
            assert reply.json()["object"] == target
        stored = bucket.get_object(target)
        assert stored.headers["Content-Type"] == pipeline.DOCX_TYPE
        output = docx.Document(io.BytesIO(stored.read()))
        # The fake backend shouts its prompt back: each paragraph holds its own text, upper-cased.
        pairs = list(zip(source.paragraphs, output.paragraphs, strict=True))
        assert all(a.text.upper() in b.text for a, b in pairs if a.text)
        assert [p.style.name for p in output.paragraphs] == [p.style.name for p in source.paragraphs]
        cells = [c.text for row in output.tables[0].rows for c in row.cells]
        assert all(f"CELL {r}{c}" in cells[2 * r + c] for r in (0, 1) for c in (0, 1))
        assert "HEADER LINE" in output.sections[0].header.paragraphs[0].text


def test_a_docx_result_needs_a_stored_docx(server: RunningServer) -> None:
    bucket = oss2_bucket(server, make_bucket(server))
    bucket.put_object("notes.txt", b"plain text")
    process = f"doc/translate,language_fr_FR|sys/saveas,o_{enc('notes.docx')}"
    reply = post(server, bucket.bucket_name, f"x-oss-process={process}", key="notes.txt")
    assert (reply.status_code, error_code(reply)) == (400, "InvalidArgument")
    assert "docx" in reply.text
