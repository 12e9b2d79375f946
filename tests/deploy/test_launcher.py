"""scripts/topology's launcher (tests/topology.py run as a program): it prints an endpoint and a key
that work, and SIGTERM stops every process it started."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import oss2

TOPOLOGY = Path(__file__).resolve().parent.parent / "topology.py"


def processes_under(run: Path) -> list[str]:
    """Command lines naming the run directory: weed, nginx, the replicas (redis-server renames its
    own, so its port is checked instead)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(run) in text and str(TOPOLOGY) not in text:
            found.append(text)
    return found


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def test_the_launcher_serves_then_stops_everything(tmp_path: Path) -> None:
    run = tmp_path / "run"
    command = [sys.executable, str(TOPOLOGY), "--llm", "fake", "--run", str(run)]
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
    printed = ""
    try:
        assert launcher.stdout is not None
        for line in launcher.stdout:
            printed += line
            if line.startswith("Ctrl-C"):
                break
        endpoint = re.search(r"^endpoint\s+(\S+)", printed, re.M)
        key_id = re.search(r"OSSDOC_ACCESS_KEY_ID=(\S+)", printed)
        secret = re.search(r"OSSDOC_ACCESS_KEY_SECRET=(\S+)", printed)
        assert endpoint and key_id and secret, printed
        auth = oss2.AuthV4(key_id[1], secret[1])
        bucket = oss2.Bucket(auth, endpoint[1], "tryout", region="cn-hangzhou")
        bucket.create_bucket()
        bucket.put_object("hello.txt", b"hello")
        assert bucket.get_object("hello.txt").read() == b"hello"
        ports = [int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", printed)]
        assert len(ports) == 4 and all(map(listening, ports)), printed  # nginx, 2 replicas, redis
        assert processes_under(run)
    finally:
        launcher.send_signal(signal.SIGTERM)
        code = launcher.wait(60)
    assert code == 0
    assert processes_under(run) == []
    assert not any(map(listening, ports))
