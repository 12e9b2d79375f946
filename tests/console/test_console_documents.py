"""Document operations and tasks through the console API (fake model: it answers the prompt's last
user message in capitals)."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import docx
import pytest

from conftest import Console, make_docx
from ossdoc.wire import sse

pytestmark = pytest.mark.anyio
TEXT = "The quarterly report shows that sales grew by ten percent in every region."


async def bucket_with_report(console: Console) -> str:
    assert (await console.call("POST", "buckets", json={"name": "docs"})).status_code == 201
    data = make_docx("Quarterly report", "Sales grew by ten percent.")
    reply = await console.call("PUT", "buckets/docs/object", params={"key": "report.docx"}, content=data)
    assert reply.status_code == 201
    return "docs"


def events(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for frame in body.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines() if not line.startswith(":"))
        if "event" in lines:
            found.append((lines["event"], json.loads(lines["data"])))
    return found


async def test_the_operations_and_their_parameters_are_listed(signed_in: Console) -> None:
    reply = (await signed_in.call("GET", "operations")).json()
    names = [op["name"] for op in reply["operations"]]
    assert names == [
        "doc/translate",
        "doc/polish",
        "doc/summarize",
        "doc/continue",
        "doc/enrich",
        "doc/rephrase",
    ]
    translate = reply["operations"][0]
    language = translate["parameters"][0]
    assert language["name"] == "language" and language["required"] is True
    assert {"value": "en_US", "label": "English"} in language["choices"]
    assert translate["docx"] is True and reply["operations"][2]["docx"] is False
    assert reply["limits"]["contentBytes"] == 19_500


async def test_pasted_text_is_processed_as_one_reply(signed_in: Console) -> None:
    body = {"operation": "rephrase", "content": TEXT, "params": {"tone": "friendly"}, "mode": "json"}
    reply = await signed_in.call("POST", "process", json=body)
    assert reply.status_code == 200, reply.text
    result = reply.json()
    assert TEXT.upper() in result["text"] and result["finishReason"] == "stop"
    assert result["usage"]["inputTokens"] > 0 and result["usage"]["outputTokens"] > 0
    assert "saved" not in result


async def test_an_object_is_streamed_as_oss_events(signed_in: Console) -> None:
    bucket = await bucket_with_report(signed_in)
    body = {"operation": "doc/summarize", "bucket": bucket, "key": "report.docx", "mode": "stream"}
    reply = await signed_in.call("POST", "process", json=body)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == sse.CONTENT_TYPE
    found = events(reply.content)
    assert found[-1][0] == "Result" and found[-1][1]["Output"]["FinishReason"] == "stop"
    assert "SALES GREW BY TEN PERCENT." in found[-1][1]["Output"]["Text"]
    assert all(name == "message" for name, _ in found[:-1])


async def test_a_result_is_saved_with_saveas(signed_in: Console) -> None:
    bucket = await bucket_with_report(signed_in)
    body = {
        "operation": "polish",
        "bucket": bucket,
        "key": "report.docx",
        "mode": "json",
        "saveAs": {"key": "out/polished.txt"},
    }
    reply = (await signed_in.call("POST", "process", json=body)).json()
    assert reply["saved"]["key"] == "out/polished.txt" and reply["saved"]["bucket"] == bucket
    saved = await signed_in.call("GET", f"buckets/{bucket}/download", params={"key": "out/polished.txt"})
    assert saved.content.decode() == reply["text"]


async def test_a_docx_is_saved_as_a_translated_docx(signed_in: Console) -> None:
    bucket = await bucket_with_report(signed_in)
    body = {
        "operation": "translate",
        "params": {"language": "fr_FR"},
        "bucket": bucket,
        "key": "report.docx",
        "mode": "json",
        "saveAs": {"key": "report.fr_FR.docx"},
    }
    reply = await signed_in.call("POST", "process", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["saved"]["key"] == "report.fr_FR.docx"
    data = (
        await signed_in.call("GET", f"buckets/{bucket}/download", params={"key": "report.fr_FR.docx"})
    ).content
    paragraphs = [p.text for p in docx.Document(io.BytesIO(data)).paragraphs]
    assert any("SALES GREW BY TEN PERCENT." in p for p in paragraphs)


SAVE = {"saveAs": {"key": "a.txt"}}
BAD = [
    ({"operation": "shout", "content": TEXT}, "operation", "Unknown operation doc/shout"),
    ({"operation": "summarize"}, "content", "Give the text to process"),
    ({"operation": "translate", "content": TEXT}, "language", "requires the parameter language"),
    (
        {"operation": "translate", "content": TEXT, "params": {"language": "xx_XX"}},
        "language",
        "must be one of",
    ),
    (
        {"operation": "translate", "content": TEXT, "params": {"language": "en,US"}},
        "language",
        "invalid value",
    ),
    ({"operation": "polish", "content": TEXT, "params": {"tone": "friendly"}}, "tone", "has no parameter"),
    ({"operation": "continue", "content": TEXT, "params": {"history": "x"}}, "history", "list of texts"),
    ({"operation": "polish", "content": "x" * 20_000}, "content", "exceeds 19500 bytes"),
    ({"operation": "polish", "content": TEXT, "mode": "sse"}, "mode", "mode must be json or stream"),
    ({"operation": "polish", "content": TEXT, "mode": "json", **SAVE}, "saveAs", "bucket"),
    ({"operation": "polish", "content": TEXT, "mode": "stream", **SAVE}, "format", "saveas"),
    (
        {"operation": "summarize", "content": TEXT, "bucket": "docs", "saveAs": {"key": "a.docx"}},
        "sys/saveas",
        "rewrites a stored .docx",
    ),
]


@pytest.mark.parametrize(("body", "argument", "message"), BAD)
async def test_bad_document_requests_are_explained(
    signed_in: Console, body: dict[str, Any], argument: str, message: str
) -> None:
    await bucket_with_report(signed_in)
    reply = await signed_in.call("POST", "process", json=body)
    assert reply.status_code == 400, reply.text
    error = reply.json()
    assert error["Code"] == "InvalidArgument" and message in error["Message"]
    assert error["Details"]["ArgumentName"] == argument


async def test_a_missing_document_is_named(signed_in: Console) -> None:
    bucket = await bucket_with_report(signed_in)
    body = {"operation": "polish", "bucket": bucket, "key": "absent.txt", "mode": "stream"}
    reply = await signed_in.call("POST", "process", json=body)
    assert reply.status_code == 404 and reply.json()["Code"] == "NoSuchKey"


async def test_continue_takes_its_history(signed_in: Console) -> None:
    body = {
        "operation": "continue",
        "content": TEXT,
        "params": {"history": ["Earlier words."]},
        "mode": "json",
    }
    reply = await signed_in.call("POST", "process", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["text"]


async def test_a_task_runs_in_the_background_and_saves_its_result(signed_in: Console) -> None:
    bucket = await bucket_with_report(signed_in)
    body = {"operation": "summarize", "key": "report.docx", "saveAs": {"key": "report.summary.txt"}}
    submitted = await signed_in.call("POST", f"buckets/{bucket}/tasks", json=body)
    assert submitted.status_code == 201, submitted.text
    task_id = submitted.json()["TaskId"]
    task: dict[str, Any] = {}
    for _ in range(200):
        task = (await signed_in.call("GET", f"buckets/{bucket}/tasks/{task_id}")).json()
        if task["State"] not in ("Queued", "Running"):
            break
        await asyncio.sleep(0.05)
    assert task["State"] == "Succeeded", task
    assert task["Output"] == {
        "Bucket": bucket,
        "Object": "report.summary.txt",
        "FileSize": task["Output"]["FileSize"],
    }
    listed = (await signed_in.call("GET", f"buckets/{bucket}/tasks")).json()
    assert [t["TaskId"] for t in listed["tasks"]] == [task_id] and listed["truncated"] is False
    saved = await signed_in.call("GET", f"buckets/{bucket}/object", params={"key": "report.summary.txt"})
    assert saved.status_code == 200


async def test_a_task_needs_somewhere_to_save_and_a_document(signed_in: Console) -> None:
    bucket = await bucket_with_report(signed_in)
    reply = await signed_in.call(
        "POST", f"buckets/{bucket}/tasks", json={"operation": "summarize", "key": "report.docx"}
    )
    assert reply.status_code == 400 and reply.json()["Details"]["ArgumentName"] == "saveAs"
    body = {"operation": "summarize", "key": "absent.docx", "saveAs": {"key": "x.txt"}}
    reply = await signed_in.call("POST", f"buckets/{bucket}/tasks", json=body)
    assert reply.status_code == 404 and reply.json()["Code"] == "NoSuchKey"
    reply = await signed_in.call("GET", f"buckets/{bucket}/tasks/doc-unknown")
    assert reply.status_code == 404 and reply.json()["Code"] == "NoSuchTask"
    reply = await signed_in.call("DELETE", f"buckets/{bucket}/tasks/doc-unknown")
    assert reply.status_code == 404 and reply.json()["Code"] == "NoSuchTask"


async def test_a_task_on_pasted_text_is_cancelled(signed_in: Console) -> None:
    bucket = await bucket_with_report(signed_in)
    # The fake model is slow here, so the task is still queued or running when it is cancelled.
    signed_in.app.state.docs.backend.token_delay = 0.05  # type: ignore[union-attr]
    body = {"operation": "polish", "content": TEXT * 4, "saveAs": {"key": "polished.txt"}}
    task_id = (await signed_in.call("POST", f"buckets/{bucket}/tasks", json=body)).json()["TaskId"]
    cancelled = await signed_in.call("DELETE", f"buckets/{bucket}/tasks/{task_id}")
    assert cancelled.status_code == 200 and cancelled.json()["State"] == "Cancelled"
    assert cancelled.json()["Object"] == "polished.txt"  # a placeholder, as in OSS
