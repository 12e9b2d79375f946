"""What objects.py measures with: Debian's ``wrk`` (native load, so the client's cost does not hide the
server's) and /proc (CPU time and RSS of a server's whole process tree)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

TICK = os.sysconf("SC_CLK_TCK")

# Rotates through the paths; done() prints the summary and wrk's latency distribution as JSON.
SCRIPT = """
local paths = {%(paths)s}
local method = "%(method)s"
local body = %(body)s
%(headers)s
local at = 0
function init(args)
  at = math.random(#paths) - 1
end
%(request)s
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%%d,"seconds":%%f,"bytes":%%d,"errors":%%d,"status_errors":%%d,' ..
    '"p50_us":%%d,"p99_us":%%d,"mean_us":%%f}\\n',
    summary.requests, summary.duration / 1e6, summary.bytes,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""
ROTATE = """
function request()
  at = at % #paths + 1
  return wrk.format(method, paths[at], nil, body)
end
"""
# One request formatted once and sent again and again: a large body is not rebuilt per request.
STATIC = """
wrk.method = method
wrk.body = body
"""


@dataclass(frozen=True)
class Run:
    requests: int
    seconds: float
    bytes: int
    errors: int
    status_errors: int
    p50_us: int
    p99_us: int
    mean_us: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def wrk_binary() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk not found: apt-get install -y wrk")
    return wrk


def wrk(
    urls: list[str],
    method: str,
    *,
    body_size: int = 0,
    body: str = "",
    headers: dict[str, str] | None = None,
    connections: int = 16,
    threads: int = 2,
    seconds: float = 10.0,
    timeout: float = 60.0,
) -> Run:
    """Drive ``urls`` (one host) with ``method`` for ``seconds``; a PUT sends ``body_size`` bytes, or
    ``body`` (text) with ``headers``."""
    first = urlsplit(urls[0])
    paths = [f"{u.path}?{u.query}" if u.query else u.path for u in map(urlsplit, urls)]
    lua = SCRIPT % {
        "paths": ",".join(json.dumps(p) for p in paths),
        "method": method,
        "body": json.dumps(body) if body else f'string.rep("a", {body_size})' if body_size else "nil",
        "headers": "\n".join(
            f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in (headers or {}).items()
        ),
        "request": STATIC if len(urls) == 1 else ROTATE,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    try:
        command = [
            wrk_binary(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:.0f}s",
            f"--timeout={timeout:.0f}s",
            "-s",
            script.name,
            urls[0] if len(urls) == 1 else f"{first.scheme}://{first.netloc}/",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + timeout + 30)
    finally:
        os.unlink(script.name)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    run = Run(**json.loads(lines[-1]))
    if run.status_errors or run.errors:
        raise RuntimeError(f"{method} {urls[0][:80]}...: {run}")
    return run


def tree(pid: int) -> list[int]:
    """``pid`` and every process descending from it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(_stat(int(entry.name))[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _stat(pid: int) -> list[str]:
    # The fields after the parenthesised command name: state is [0], ppid [1], utime [11] ...
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def cpu_seconds(pid: int) -> float:
    """CPU time of the tree under ``pid``, children that ended included (cutime, cstime)."""
    total = 0
    for member in tree(pid):
        try:
            fields = _stat(member)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        if member == pid:
            total += int(fields[13]) + int(fields[14])
    return total / TICK


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@contextmanager
def rss_growth(pid: int, interval: float = 0.05) -> Iterator[dict[int, float]]:
    """Yields a dict that ends up holding, per process of the tree, peak VmRSS minus VmRSS before."""
    baseline = {member: rss_mib(member) for member in tree(pid)}
    growth = dict.fromkeys(baseline, 0.0)
    stop = threading.Event()

    def sample() -> None:
        while True:
            for member, before in baseline.items():
                growth[member] = max(growth[member], rss_mib(member) - before)
            if stop.wait(interval):
                return

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield growth
    finally:
        stop.set()
        sampler.join()
