"""``ossdoc cp`` killed mid-transfer resumes from its checkpoint: fewer parts the second time, and
the result is byte-identical."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli_helpers import bucket_name, env_for, ok_json, ossdoc
from ossdoc_server import RunningServer

PART = 256 * 1024
SIZE = 48 * 1024 * 1024  # 192 parts
TRANSFER = ["--bigfile-threshold", str(PART), "--part-size", str(PART), "-j", "1"]


def kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool]) -> None:
    """SIGKILL ``process`` as soon as ``ready()`` holds (polled), as a crash or a kill -9 would."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the transfer finished before it could be interrupted"
        if ready():
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            return
        time.sleep(0.005)
    raise AssertionError("the transfer made no progress")


def checkpoints(directory: Path, kind: str) -> list[dict[str, Any]]:
    found = []
    for path in directory.glob(f"*.{kind}.json"):
        with contextlib.suppress(OSError, ValueError):  # being replaced
            found.append(json.loads(path.read_text()))
    return found


def start(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "ossdoc", "cp", *args, *TRANSFER, "-q"]
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_interrupted_upload_and_download_resume(server: RunningServer, tmp_path: Path) -> None:
    env = env_for(server, tmp_path)
    bucket = bucket_name()
    assert ossdoc(env, "mb", f"oss://{bucket}").returncode == 0
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(SIZE))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    cp_dir = tmp_path / ".ossdoc_checkpoint"

    # Upload: killed once a few parts are recorded.
    first = start(env, tmp_path, str(source), f"oss://{bucket}/big.bin")
    kill_when(first, lambda: any(len(c["parts"]) >= 8 for c in checkpoints(cp_dir, "upload")))
    recorded = len(checkpoints(cp_dir, "upload")[0]["parts"])
    assert recorded < SIZE // PART
    resumed = ok_json(env, "cp", str(source), f"oss://{bucket}/big.bin", *TRANSFER, cwd=tmp_path)
    (record,) = resumed["Files"]
    assert record["Parts"] == SIZE // PART
    assert record["PartsUploaded"] <= record["Parts"] - recorded  # only the missing parts went again
    assert record["ResumedBytes"] >= recorded * PART
    assert not checkpoints(cp_dir, "upload")
    stat = ok_json(env, "stat", f"oss://{bucket}/big.bin")
    assert stat["X-Oss-Object-Type"] == "Multipart" and stat["Content-Length"] == str(SIZE)

    # Download: killed once some bytes are checkpointed, then resumed from there.
    target = tmp_path / "back.bin"
    second = start(env, tmp_path, f"oss://{bucket}/big.bin", str(target))
    kill_when(second, lambda: any(int(c["offset"]) >= 8 * PART for c in checkpoints(cp_dir, "download")))
    assert not target.exists()
    again = ok_json(env, "cp", f"oss://{bucket}/big.bin", str(target), *TRANSFER, cwd=tmp_path)
    assert again["Files"][0]["ResumedBytes"] >= 8 * PART
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest
    assert not cp_dir.exists()
