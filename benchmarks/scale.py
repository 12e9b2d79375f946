"""Replicas behind nginx: aggregate throughput with one ossdoc replica and with two, as a ratio.

The documented topology (tests/topology.py: SeaweedFS, Redis, nginx; replicas on ``--llm fake``, so
the doc-op figures measure ossdoc, not a model) is started once with one replica and once with two,
each of ``--workers`` HTTP workers; the clients go through nginx either way. Driven by Debian's
``wrk`` (benchmarks/wrk.py): 4 KiB PUT and GET over 64 presigned URLs, and doc/polish event streams
(V1-signed POSTs, the fake model's reply streamed as SSE), at ``--connections``. Reported: ops/s, the
two-replica/one-replica ratio, and server CPU per operation: the replicas' whole process trees from
/proc (utime + stime) over the operations, which should not grow with replicas; nginx's apart.

On one machine both replicas share its cores with nginx, SeaweedFS and wrk, so the ratio says what
a second replica costs and whether anything serializes them, not what a second machine would add.
The load average is printed beside the figures (the machine may be shared).

  apt-get install -y wrk nginx redis-server && .venv/bin/pip install -e '.[test,bench]'
  .venv/bin/python benchmarks/scale.py [--seconds 10] [--connections 16] [--workers 1]
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import httpx
import oss2
import wrk

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import topology
from ossdoc import client

SMALL = 4096
URLS = 64
TEXT = "The old lighthouse keeper climbed the stairs one last time, as he had done for forty years."


@dataclass(frozen=True)
class Figure:
    per_second: float
    cpu_us: float  # the replicas' CPU per operation
    nginx_us: float  # nginx's CPU per operation


def measure(deployed: topology.Topology, run: dict[str, object], seconds: float) -> Figure:
    pids = [replica.process.pid for replica in deployed.replicas]
    assert deployed.nginx is not None
    before = sum(map(wrk.cpu_seconds, pids)), wrk.cpu_seconds(deployed.nginx.process.pid)
    done = wrk.wrk(seconds=seconds, **run)  # type: ignore[arg-type]
    after = sum(map(wrk.cpu_seconds, pids)), wrk.cpu_seconds(deployed.nginx.process.pid)
    ops = max(done.requests, 1)
    return Figure(done.per_second, (after[0] - before[0]) / ops * 1e6, (after[1] - before[1]) / ops * 1e6)


def runs(deployed: topology.Topology, connections: int) -> dict[str, dict[str, object]]:
    """What wrk sends for each row: presigned URLs for objects, a signed POST for event streams."""
    auth = oss2.Auth(deployed.access_key_id, deployed.access_key_secret)
    bucket = oss2.Bucket(auth, deployed.endpoint, "scale")
    bucket.create_bucket()
    with httpx.Client() as http:
        for n in range(URLS):
            http.put(bucket.sign_url("PUT", f"small/{n}", 3600), content=os.urandom(SMALL)).raise_for_status()
    urls = {
        method: [bucket.sign_url(method, f"small/{n}", 3600) for n in range(URLS)]
        for method in ("PUT", "GET")
    }
    resource = "/scale/doc.txt?x-oss-process"
    headers = {"Date": formatdate(usegmt=True), "Content-Type": client.FORM_TYPE}
    credentials = client.Credentials(deployed.access_key_id, deployed.access_key_secret)
    headers["Authorization"] = client.sign_v1(credentials, "POST", resource, headers)
    content = base64.urlsafe_b64encode(TEXT.encode()).decode().rstrip("=")
    stream = f"x-oss-process=doc/polish,content_{content},format_event-stream"
    common = {"connections": connections, "threads": min(2, connections)}
    return {
        "4 KiB PUT": {"urls": urls["PUT"], "method": "PUT", "body_size": SMALL, **common},
        "4 KiB GET": {"urls": urls["GET"], "method": "GET", **common},
        "doc stream": {
            "urls": [deployed.endpoint + resource],
            "method": "POST",
            "body": stream,
            "headers": headers,
            **common,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="HTTP workers of each replica")
    args = parser.parse_args()
    settings = {
        "cache_bytes": "0",  # every stream is generated (by the fake model), none answered from cache
        "model_slots": "64",  # the fake model is not what is measured: no wait for a model slot
        "queue_size": "256",
        "log_level": "warning",
    }
    figures: dict[int, dict[str, Figure]] = {}
    load = [os.getloadavg()]
    for replicas in (1, 2):
        with (
            tempfile.TemporaryDirectory(prefix="ossdoc-scale-") as run,
            topology.running(
                Path(run), replicas=replicas, llm="fake", workers=args.workers, **settings
            ) as deployed,
        ):
            rows = runs(deployed, args.connections)
            for name, run_args in rows.items():
                wrk.wrk(seconds=2, **run_args)  # type: ignore[arg-type]  # warm up
                figures.setdefault(replicas, {})[name] = measure(deployed, run_args, args.seconds)
        load.append(os.getloadavg())
    averages = " -> ".join(f"{a[0]:.2f}" for a in load)
    print(
        f"\n{args.workers} worker(s) per replica, {args.connections} connections, {args.seconds:.0f} s a row"
    )
    print(f"load average (1 min) before, after 1 replica, after 2: {averages}")
    header = f"{'':12} {'1 replica ops/s':>16} {'2 replicas ops/s':>17} {'ratio':>6}"
    print(f"{header}   CPU µs/op: replicas 1 -> 2, nginx 1 / 2")
    for name in figures[1]:
        one, two = figures[1][name], figures[2][name]
        print(
            f"{name:12} {one.per_second:16.0f} {two.per_second:17.0f} {two.per_second / one.per_second:6.2f}"
            f"   {one.cpu_us:6.0f} -> {two.cpu_us:6.0f},  {one.nginx_us:4.0f} / {two.nginx_us:4.0f}"
        )


if __name__ == "__main__":
    main()
