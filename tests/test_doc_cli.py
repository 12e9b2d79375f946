"""``ossdoc process`` against a real server (fake LLM)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import oss2
import pytest

from doc_http import make_bucket
from ossdoc.backends.llm.fake import pieces, shout
from ossdoc.services.docs import OPERATIONS, Args
from ossdoc.services.docs.cleaning import Cleaner
from ossdoc_server import RunningServer

TEXT = "四大名著是指中国古典章回小说。"


def ossdoc(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSSDOC_")}
    env.update(OSSDOC_ACCESS_KEY_ID=server.access_key_id, OSSDOC_ACCESS_KEY_SECRET=server.access_key_secret)
    command = [sys.executable, "-m", "ossdoc", "process", *args, "--endpoint", server.endpoint]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def expected_text() -> str:
    op = OPERATIONS["doc/translate"]
    reply = "".join(pieces(shout(op.prompt(TEXT, Args({"language": "en_US"}))))).strip()
    return Cleaner(TEXT, op.labels).finish(reply)


@pytest.mark.parametrize("stream", [False, True])
def test_process_prints_the_result(server: RunningServer, stream: bool) -> None:
    bucket = make_bucket(server)
    args = ["translate", "--param", "language=en_US", "--text", TEXT, "--object", f"{bucket}/any/key.doc"]
    result = ossdoc(server, *args, *(["--stream"] if stream else []))
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_text() + "\n"


def test_process_reads_a_file_and_uses_the_bucket_option(server: RunningServer, tmp_path: Path) -> None:
    bucket = make_bucket(server)
    source = tmp_path / "doc.txt"
    source.write_text(TEXT, encoding="utf-8")
    result = ossdoc(
        server, "doc/translate", "--param", "language=en_US", "--file", str(source), "--bucket", bucket
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected_text() + "\n"


def test_process_reports_oss_errors(server: RunningServer) -> None:
    bucket = make_bucket(server)
    result = ossdoc(server, "translate", "--param", "language=xx", "--text", "hi", "--bucket", bucket)
    assert result.returncode == 1
    assert "InvalidArgument" in result.stderr and "language" in result.stderr
    missing = ossdoc(server, "polish", "--text", "hi", "--bucket", "no-such-bucket-here")
    assert missing.returncode == 1 and "NoSuchBucket" in missing.stderr


def test_process_usage_errors(server: RunningServer) -> None:
    assert ossdoc(server, "polish", "--text", "hi").returncode == 2  # no bucket
    assert ossdoc(server, "polish", "--text", "hi", "--bucket", "b", "--param", "oops").returncode == 2


def ossdoc_task(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSSDOC_")}
    env.update(OSSDOC_ACCESS_KEY_ID=server.access_key_id, OSSDOC_ACCESS_KEY_SECRET=server.access_key_secret)
    command = [sys.executable, "-m", "ossdoc", "task", *args, "--endpoint", server.endpoint]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_process_a_stored_object_save_it_and_run_a_task(server: RunningServer) -> None:
    bucket = make_bucket(server)
    oss2.Bucket(
        oss2.Auth(server.access_key_id, server.access_key_secret), server.endpoint, bucket
    ).put_object("notes.txt", TEXT.encode())
    stored = ossdoc(server, "translate", "--param", "language=en_US", "--object", f"{bucket}/notes.txt")
    assert stored.returncode == 0, stored.stderr
    assert stored.stdout == expected_text() + "\n"
    saved = ossdoc(server, "translate", "--param", "language=en_US", "--object", f"{bucket}/notes.txt",
                   "--save-as", "notes.en.txt")  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    assert json.loads(saved.stdout)["object"] == "notes.en.txt"
    submitted = ossdoc(server, "translate", "--param", "language=en_US", "--object", f"{bucket}/notes.txt",
                       "--save-as", "async.en.txt", "--async")  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    task_id = json.loads(submitted.stdout)["TaskId"]
    for _ in range(200):
        shown = ossdoc_task(server, bucket, task_id)
        assert shown.returncode == 0, shown.stderr
        if json.loads(shown.stdout)["State"] == "Succeeded":
            break
        time.sleep(0.05)
    assert json.loads(shown.stdout)["Output"]["Object"] == "async.en.txt"
    listed = ossdoc_task(server, bucket)
    assert [t["TaskId"] for t in json.loads(listed.stdout)["Tasks"]] == [task_id]


def test_process_and_task_usage_errors(server: RunningServer) -> None:
    bucket = make_bucket(server)
    nothing = ossdoc(server, "summarize", "--bucket", bucket)
    assert nothing.returncode == 2 and "--object" in nothing.stderr
    no_target = ossdoc(server, "summarize", "--text", "hi", "--bucket", bucket, "--async")
    assert no_target.returncode == 2 and "--save-as" in no_target.stderr
    unknown = ossdoc_task(server, bucket, "doc-unknown", "--cancel")
    assert unknown.returncode == 1 and "NoSuchTask" in unknown.stderr
