"""Two real processes on one LocalStorage root (as ``ossdoc serve --workers 2``), under concurrent
PUT, DELETE and multipart traffic, one of them SIGKILLed and restarted while the other writes on:
no read sees a torn value, no acknowledged write or delete is lost, and nothing is left behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ossdoc
from ossdoc.backends.storage import LocalStorage
from ossdoc.backends.storage.maintenance import is_inline

sys.path.insert(0, str(Path(__file__).parent))

from multi_writer import OWN, SHARED, content, is_whole

WRITER = Path(__file__).parent / "multi_writer.py"


def start(root: Path, name: str, first_version: int, seconds: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(ossdoc.__file__).parents[1]), *sys.path])}
    child = subprocess.Popen(
        [sys.executable, str(WRITER), str(root), name, str(first_version), str(seconds)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    return child


def acks(output: str, into: dict[str, int]) -> list[str]:
    """Record the last acknowledgement per key; return the complaints."""
    bad = []
    for line in output.split("\n"):
        words = line.split(" ")
        if words[0] == "bad":
            bad.append(line)
        elif len(words) == 2:
            into[words[0]] = int(words[1])
    return bad


@pytest.mark.timeout(300)
def test_two_processes_share_one_store(tmp_path: Path) -> None:
    root = tmp_path / "store"
    first = start(root, "a", 0, 6.0)
    second = start(root, "b", 0, 30.0)
    time.sleep(2.0)
    second.send_signal(signal.SIGKILL)
    killed_output, _ = second.communicate(timeout=30)
    # Restarted while "a" writes on: it must sweep what "b" left, and nothing of "a".
    restarted = start(root, "b", 1_000_000, 3.0)
    outputs = [first.communicate(timeout=120)[0], restarted.communicate(timeout=120)[0]]
    assert first.returncode == 0 and restarted.returncode == 0
    assert outputs[0].endswith("done\n") and outputs[1].endswith("done\n")

    acked: dict[str, int] = {}
    cut = killed_output.rpartition("\n")[0]  # the last line may be cut by the kill
    bad = acks(cut, acked) + acks(outputs[0], acked) + acks(outputs[1], acked)
    assert bad == []
    assert sum(1 for key in acked if key.startswith("b/") and abs(acked[key]) > 1_000_000) == OWN
    asyncio.run(verify(root, acked))


async def verify(root: Path, acked: dict[str, int]) -> None:
    store = await LocalStorage.open(root)
    try:
        for name in ("a", "b"):
            for n in range(OWN):
                key = f"{name}/{n}"
                record = await store.get_object("shared", key)
                data = None if record is None else b"".join([c async for c in store.read(record)])
                last = acked[key]
                if last < 0:
                    assert data is None, f"{key}: acknowledged delete of {-last} undone"
                else:
                    assert data == content(key, last), f"{key}: acknowledged version {last} lost"
        for key in SHARED:
            record = await store.get_object("shared", key)
            assert record is not None
            assert is_whole(key, b"".join([c async for c in store.read(record)]))
        listed = await store.list_objects("shared", "", b"", 1000)
        referenced = {s.blob_id for record in listed for s in record.segments}
        for upload in await store.list_uploads("shared", "", "", "", 100):  # the killed one's
            referenced |= {p.blob_id for p in await store.list_parts(upload)}
        assert {p.name for p in (root / "blobs").glob("*/*")} == {b for b in referenced if not is_inline(b)}
        inline = {f"i{n:016x}" for (n,) in store.db.execute("SELECT id FROM inline_blobs")}
        assert inline == {b for b in referenced if is_inline(b)}
    finally:
        await store.close()
    assert list((root / "tmp").iterdir()) == []
