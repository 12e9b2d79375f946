"""Object store throughput of the server, measured with a native load generator, against SeaweedFS
and the machine's own limits, all in one run.

Every HTTP target is driven by Debian's ``wrk`` (``apt-get install -y wrk``) over presigned URLs, so
the client's cost does not hide the server's: 4 KiB PUT and GET rotate through 64 URLs at 16
connections; 256 MiB PUT and GET go one at a time. wrk receives through an 8 KiB buffer, which caps a
large GET well below what the server sends (nginx's sendfile included), so the large transfers are
also timed with the loopback baseline's own client ("raw client" rows: the body in 1 MiB sendall /
recv_into, best of 3 rounds, null_server.transfer): that ratio is like for like. Reported: ops/s
(MiB/s), p50/p99 latency from wrk's distribution (raw client rows: median / slowest of the 3
transfers, in ms), and server CPU µs per operation (utime + stime of the server's whole process
tree from /proc, before and after). The targets (same-run ratios, information, not pass/fail):

  4 KiB PUT, 4 KiB GET ops/s    ossdoc / SeaweedFS                               >= 2
  256 MiB GET MiB/s             ossdoc / raw loopback copy                       >= 0.8
                                (and ossdoc / nginx's sendfile through the same wrk client)
  256 MiB PUT MiB/s             ossdoc / slower of loopback and write+fsync      >= 0.8
  RSS growth, 1 GiB PUT or GET  worst server process (a streaming httpx client)  < 64 MiB

ossdoc runs with 1 worker and with ``--workers`` N (``OSSDOC_WORKERS``; a server without worker
processes runs that row as one process, and the row says so). fsync is on unless ``--fsync 0``.

  apt-get install -y wrk && .venv/bin/pip install -e '.[bench]'
  .venv/bin/python benchmarks/objects.py [--workers 2] [--seconds 10] [--fsync 1] [--skip-seaweedfs]
                                         [--only small|large|rss] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

import httpx
import null_server
import oss2
import seaweedfs_server
import wrk

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from ossdoc.config import Settings
from ossdoc_server import running
from topology import static_nginx

MiB = 1024 * 1024
SMALL = 4096
URLS = 64
Signer = Callable[[str, str], str]  # (method, key) -> URL


@dataclass
class Target:
    name: str
    sign_url: Signer
    pid: int
    ours: bool = True


@dataclass(frozen=True)
class Figure:
    rate: float  # ops/s or MiB/s
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server CPU per operation


def measure(
    target: Target, urls: list[str], method: str, body: int, connections: int, seconds: float
) -> Figure:
    threads = min(2, connections)
    before = wrk.cpu_seconds(target.pid)
    run = wrk.wrk(urls, method, body_size=body, connections=connections, threads=threads, seconds=seconds)
    cpu = wrk.cpu_seconds(target.pid) - before
    size = body if method == "PUT" else None
    rate = run.per_second if size is None or size == SMALL else size / MiB / (run.mean_us / 1e6)
    if method == "GET" and connections == 1:
        rate = run.bytes / MiB / run.seconds
    return Figure(rate, run.p50_us / 1e3, run.p99_us / 1e3, cpu / max(run.requests, 1) * 1e6)


def small(target: Target, method: str, seconds: float) -> Figure:
    urls = [target.sign_url(method, f"small/{n}") for n in range(URLS)]
    if method == "GET":
        with httpx.Client(timeout=30) as client:  # every key exists, whatever PUT managed
            for n in range(URLS):
                client.put(target.sign_url("PUT", f"small/{n}"), content=os.urandom(SMALL)).raise_for_status()
    measure(target, urls, method, SMALL if method == "PUT" else 0, 16, min(2.0, seconds))  # warm up
    return measure(target, urls, method, SMALL if method == "PUT" else 0, 16, seconds)


def large(target: Target, method: str, size: int, seconds: float) -> Figure:
    url = target.sign_url(method, "large")
    if method == "GET":
        upload(target, "large", size)
    return measure(target, [url], method, size if method == "PUT" else 0, 1, seconds)


def large_raw(target: Target, method: str, size: int, rounds: int = 3) -> Figure:
    """The best of ``rounds`` transfers through the loopback baseline's client; CPU per transfer."""
    url = target.sign_url(method, "large")
    if method == "GET":
        upload(target, "large", size)
    before = wrk.cpu_seconds(target.pid)
    rates = [null_server.transfer(url, method, size, b"\xa5" * MiB) for _ in range(rounds)]
    cpu = (wrk.cpu_seconds(target.pid) - before) / rounds
    seconds = size / MiB / sorted(rates)[len(rates) // 2]
    return Figure(max(rates), seconds * 1e3, size / MiB / min(rates) * 1e3, cpu * 1e6)


def upload(target: Target, key: str, size: int) -> None:
    def body() -> Iterator[bytes]:
        chunk = b"\xa5" * MiB
        for offset in range(0, size, MiB):
            yield chunk[: min(MiB, size - offset)]

    with httpx.Client(timeout=300) as client:
        headers = {"Content-Length": str(size)}
        client.put(target.sign_url("PUT", key), content=body(), headers=headers).raise_for_status()


def download(target: Target, key: str) -> None:
    with httpx.Client(timeout=300) as client, client.stream("GET", target.sign_url("GET", key)) as response:
        response.raise_for_status()
        for _ in response.iter_raw():
            pass


def rss(target: Target, method: str, size: int) -> float:
    """Worst RSS growth of a server process during one streamed transfer of ``size`` bytes."""
    with wrk.rss_growth(target.pid) as growth:
        if method == "PUT":
            upload(target, "rss", size)
        else:
            download(target, "rss")
    return max(growth.values())


def nginx_get(directory: Path, size: int, seconds: float) -> float:
    """MiB/s of nginx sending a ``size``-byte file with sendfile to wrk at c=1: what a native server
    reaches through the same client as ossdoc (the loopback baseline has no HTTP client at all)."""
    root = directory / "static"
    root.mkdir()
    chunk = b"\xa5" * MiB
    with (root / "large").open("wb") as out:
        for offset in range(0, size, MiB):
            out.write(chunk[: min(MiB, size - offset)])
    with static_nginx(directory / "nginx", root) as server:
        url = f"http://{server.endpoint}/large"
        target = Target("nginx", lambda method, key: url, server.process.pid, ours=False)
        return measure(target, [url], "GET", 0, 1, seconds).rate


def write_fsync(directory: Path, size: int) -> float:
    """MiB/s of writing ``size`` bytes to a new file in 1 MiB writes, then fsync: best of three."""
    chunk = b"\xa5" * MiB
    best = 0.0
    for _ in range(3):
        path = directory / "write-fsync"
        start = time.perf_counter()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for offset in range(0, size, MiB):
                os.write(fd, chunk[: min(MiB, size - offset)])
            os.fsync(fd)
        finally:
            os.close(fd)
        best = max(best, size / MiB / (time.perf_counter() - start))
        path.unlink()
    return best


@contextmanager
def ossdoc_target(workdir: Path, name: str, **settings: str) -> Iterator[Target]:
    with running(workdir / name, **settings) as server:
        auth = oss2.Auth(server.access_key_id, server.access_key_secret)
        bucket = oss2.Bucket(auth, server.endpoint, "bench")
        bucket.create_bucket()

        def sign_url(method: str, key: str) -> str:
            url: str = bucket.sign_url(method, key, 3600)
            return url

        yield Target(name, sign_url, server.process.pid)


@contextmanager
def seaweedfs_target(workdir: Path) -> Iterator[Target]:
    with seaweedfs_server.running(workdir / "seaweedfs") as server:
        yield Target("seaweedfs", server.sign_url, server.process.pid, ours=False)


def cell(value: float, digits: int = 0) -> str:
    return f"{value:>14,.{digits}f}"


def report(
    targets: list[Target], rows: dict[str, dict[str, Figure]], baselines: dict[str, float]
) -> list[str]:
    ours = [t for t in targets if t.ours]
    seaweed = next((t for t in targets if not t.ours), None)
    head = f"{'':<26}" + "".join(f"{t.name:>14}" for t in targets)
    lines = [head + "".join(f"{t.name + ' ratio':>22}" for t in ours)]
    for label, figures in rows.items():
        line = f"{label:<26}" + "".join(
            cell(figures[t.name].rate) if t.name in figures else f"{'-':>14}" for t in targets
        )
        for target in ours:
            if target.name not in figures:
                continue
            rate = figures[target.name].rate
            if label.startswith("4 KiB") and seaweed and seaweed.name in figures:
                ratio, against, goal = rate / figures[seaweed.name].rate, "seaweedfs", 2.0
            elif " MiB GET MiB/s" in label:
                ratio, against, goal = rate / baselines["loopback"], "loopback", 0.8
                if "nginx GET" in baselines and not label.endswith("raw client"):
                    line += f"{rate / baselines['nginx GET']:>8.2f} of nginx"
            elif " MiB PUT MiB/s" in label:
                floor = min(baselines["loopback"], baselines["write+fsync"])
                ratio, against, goal = rate / floor, "floor", 0.8
            else:
                continue
            line += f"{ratio:>8.2f} of {against:<9}{'ok' if ratio >= goal else 'MISS':>3}"
        lines.append(line)
        lines.append(
            f"{'  p50 / p99 ms':<26}"
            + "".join(
                f"{figures[t.name].p50_ms:>7.2f} /{figures[t.name].p99_ms:>5.1f}"
                if t.name in figures
                else f"{'-':>14}"
                for t in targets
            )
        )
        lines.append(
            f"{'  server CPU µs/op':<26}"
            + "".join(cell(figures[t.name].cpu_us) if t.name in figures else f"{'-':>14}" for t in targets)
        )
    lines += [f"baseline {name}: {value:,.0f} MiB/s" for name, value in baselines.items()]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="N of the second ossdoc")
    parser.add_argument("--seconds", type=float, default=10.0, help="per small measurement")
    parser.add_argument("--fsync", choices=["0", "1"], default="1")
    parser.add_argument("--skip-seaweedfs", action="store_true")
    parser.add_argument("--only", choices=["small", "large", "rss"])
    parser.add_argument(
        "--quick", action="store_true", help="32 MiB and 128 MiB instead of 256 MiB and 1 GiB"
    )
    args = parser.parse_args()
    big = (32 if args.quick else 256) * MiB
    huge = (128 if args.quick else 1024) * MiB
    workers_supported = "workers" in {f.name for f in fields(Settings)}
    rows: dict[str, dict[str, Figure]] = {}
    baselines: dict[str, float] = {}
    memory: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="ossdoc-bench-", dir=os.environ.get("TMPDIR")) as tmp,
        ExitStack() as stack,
    ):
        workdir = Path(tmp)
        targets = [stack.enter_context(ossdoc_target(workdir, "ossdoc-1w", workers="1", fsync=args.fsync))]
        if args.workers > 1:
            name = f"ossdoc-{args.workers}w" + ("" if workers_supported else "(1p)")
            workers = str(args.workers)
            targets.append(
                stack.enter_context(ossdoc_target(workdir, name, workers=workers, fsync=args.fsync))
            )
        if not args.skip_seaweedfs:
            targets.append(stack.enter_context(seaweedfs_target(workdir)))
        if args.only in (None, "small"):
            for method in ("PUT", "GET"):
                rows[f"4 KiB {method} ops/s"] = {t.name: small(t, method, args.seconds) for t in targets}
        if args.only in (None, "large"):
            baselines["loopback"] = max(null_server.loopback(big, b"\xa5" * MiB) for _ in range(5))
            baselines["write+fsync"] = write_fsync(workdir, big)
            baselines["nginx GET"] = nginx_get(workdir, big, args.seconds * 2)
            for method in ("GET", "PUT"):
                label = f"{big // MiB} MiB {method} MiB/s"
                rows[label] = {t.name: large(t, method, big, args.seconds * 2) for t in targets}
                rows[f"{label}, raw client"] = {t.name: large_raw(t, method, big) for t in targets}
        if args.only in (None, "rss"):
            for target in targets:
                growth = [rss(target, method, huge) for method in ("PUT", "GET")]
                verdict = ("ok" if max(growth) < 64 else "MISS") if target.ours else ""
                memory.append(
                    f"RSS growth {huge // MiB} MiB PUT / GET, worst process: {target.name:<14}"
                    f"{growth[0]:>7.1f} /{growth[1]:>7.1f} MiB {verdict}"
                )
    fsync = "on" if args.fsync == "1" else "off (OSSDOC_FSYNC=0)"
    print(f"wrk, 64 presigned URLs, c=16 for 4 KiB, c=1 for {big // MiB} MiB; ossdoc fsync {fsync}")
    print("\n".join([*report(targets, rows, baselines), *memory]))
    if not workers_supported and args.workers > 1:
        print(f"(1p): this ossdoc has no worker processes; the {args.workers}-worker row ran one process")


if __name__ == "__main__":
    main()
