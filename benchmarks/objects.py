"""Object store throughput: ossdoc against SeaweedFS and the raw loopback limit, in one run.

Every target is driven by the same client (httpx over presigned URLs, prepared before the clock
starts). Prints absolute figures and ratios; the targets are information, not pass/fail:

  4 KiB PUT/GET ops/s at concurrency 1 and 16      ossdoc / SeaweedFS   target >= 2
  256 MiB PUT/GET MiB/s                            ossdoc / loopback    target >= 0.8
  server RSS growth during a 1 GiB PUT and GET     MiB                  target < 64

Client and servers share this machine's cores, so the small-object rows also give CPU time per
operation (server and client), which noise and the client's own cost do not distort; the large rows
give the client's ceiling (httpx against a server that only moves bytes).

  .venv/bin/python benchmarks/objects.py [--quick] [--skip-seaweedfs] [--only small|large|rss]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import null_server
import oss2
import seaweedfs_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from ossdoc_server import running

MiB = 1024 * 1024
CHUNK = b"\xa5" * MiB
TICK = os.sysconf("SC_CLK_TCK")
Signer = Callable[[str, str], str]  # (method, key) -> URL


@dataclass
class Target:
    name: str
    sign_url: Signer
    pid: int | None = None
    ours: bool = True  # an ossdoc server, which the targets apply to
    stored: int = 0  # keys small/0 .. small/stored-1 exist


@dataclass
class Small:
    ops_per_s: float
    server_us: float  # server CPU per operation
    client_us: float  # this process's CPU per operation
    done: int


def body(size: int, deadline: float) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        if time.monotonic() > deadline:
            raise TimeoutError(f"upload not done within the time limit ({sent} of {size} bytes)")
        piece = CHUNK[: min(MiB, size - sent)]
        sent += len(piece)
        yield piece


def cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    # Fields after the parenthesised command name; utime and stime are the 14th and 15th fields.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def small_ops(target: Target, method: str, count: int, concurrency: int, seconds: float) -> Small:
    """``count`` operations on keys small/0.., stopping early after ``seconds``."""
    payload = os.urandom(4096)
    count = count if method == "PUT" else min(count, target.stored)
    urls = [target.sign_url(method, f"small/{i}") for i in range(count)]
    # One client (one keep-alive connection) per worker, kept from the warm-up to the measurement.
    clients = [httpx.Client(timeout=30) for _ in range(concurrency)]
    errors: list[BaseException] = []

    def worker(client: httpx.Client, indexes: Iterator[int], deadline: float, done: list[int]) -> None:
        # next() on a shared range iterator is atomic under the GIL; every index taken is done or
        # raises, so the keys done are a prefix.
        try:
            while not errors and time.monotonic() < deadline:
                index = next(indexes, None)
                if index is None:
                    return
                url = urls[index]
                response = client.put(url, content=payload) if method == "PUT" else client.get(url)
                if response.status_code != 200:
                    raise RuntimeError(
                        f"{target.name} {method}: {response.status_code} {response.text[:200]}"
                    )
                done.append(index)
        except BaseException as exc:
            errors.append(exc)

    def run(limit: int, deadline: float) -> int:
        indexes, done = iter(range(limit)), list[int]()
        threads = [threading.Thread(target=worker, args=(c, indexes, deadline, done)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return len(done)

    try:
        run(min(count, concurrency * 2), time.monotonic() + seconds)  # open connections, warm caches
        server, client, start = cpu_seconds(target.pid), time.process_time(), time.perf_counter()
        done = run(count, time.monotonic() + seconds)
        elapsed = time.perf_counter() - start
        server, client = cpu_seconds(target.pid) - server, time.process_time() - client
    finally:
        for http in clients:
            http.close()
    if done == 0:
        raise RuntimeError(f"{target.name} {method}: no operation completed in {seconds}s")
    if method == "PUT":
        target.stored = max(target.stored, done)
    return Small(done / elapsed, server / done * 1e6, client / done * 1e6, done)


def large(target: Target, method: str, size: int, seconds: float, key: str = "large") -> float:
    url = target.sign_url(method, key)
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=60) as client:
        start = time.perf_counter()
        if method == "PUT":
            headers = {"Content-Length": str(size)}
            response = client.put(url, content=body(size, deadline), headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{target.name} PUT: {response.status_code} {response.text[:200]}")
        else:
            got = 0
            with client.stream("GET", url) as response:
                # iter_raw() without a size: re-chunking httpx's 64 KiB reads halves its speed.
                for piece in response.iter_raw():
                    got += len(piece)
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{target.name} GET not done within {seconds}s")
            if response.status_code != 200 or got != size:
                raise RuntimeError(f"{target.name} GET: {response.status_code}, {got} of {size} bytes")
        return size / MiB / (time.perf_counter() - start)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_growth(target: Target, method: str, size: int, seconds: float) -> float:
    """Peak VmRSS, sampled every 50 ms, minus VmRSS before the transfer."""
    pid = target.pid
    assert pid is not None
    baseline = rss_mib(pid)
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss_mib(pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        large(target, method, size, seconds, key="rss")
    finally:
        done.set()
        sampler.join()
    return max(peak[0], rss_mib(pid)) - baseline


@contextmanager
def ossdoc_target(workdir: Path, name: str = "ossdoc", **settings: str) -> Iterator[Target]:
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


def verdict(target: Target, ok: bool) -> str:
    # The targets are ossdoc's; the other rows are there to compare against.
    return ("PASS" if ok else "MISS") if target.ours else ""


def report_small(targets: list[Target], baseline: Target | None, count: int, seconds: float) -> list[str]:
    ours = [t for t in targets if t.ours] if baseline else []
    names = "".join(f"{t.name:>11}" for t in targets)
    ratios = "".join(f"{t.name + '/' + baseline.name:>20}" for t in ours) if baseline else ""
    rows = [f"{'4 KiB ops/s':<11}{names}{ratios}"]
    cpu = [f"{'CPU µs/op':<11}{names}{'client':>11}"]
    for method in ("PUT", "GET"):
        for concurrency in (1, 16):
            label = f"{method} c={concurrency}"
            results = {t.name: small_ops(t, method, count, concurrency, seconds) for t in targets}
            row = f"{label:<11}" + "".join(f"{r.ops_per_s:>11.0f}" for r in results.values())
            for target in ours:
                assert baseline is not None
                ratio = results[target.name].ops_per_s / results[baseline.name].ops_per_s
                row += f"{ratio:>15.2f} {verdict(target, ratio >= 2)}"
            rows.append(row)
            server = "".join(f"{r.server_us:>11.0f}" for r in results.values())
            cpu.append(f"{label:<11}{server}{min(r.client_us for r in results.values()):>11.0f}")
    note = "(target: ossdoc / seaweedfs >= 2)" if baseline else "(no baseline: --skip-seaweedfs)"
    return [*rows, note, "", *cpu, "(server and client CPU time per operation)", ""]


def report_large(targets: list[Target], size: int, seconds: float) -> list[str]:
    # Best of five copies of at least 256 MiB: on a shared machine one copy varies 2x run to run.
    limit = max(null_server.loopback(max(size, 256 * MiB), CHUNK) for _ in range(5))
    head = "".join(f"{method + ' MiB/s':>12}{'/loopback':>15}{'/client':>8}" for method in ("PUT", "GET"))
    rows = [
        f"{f'{size // MiB} MiB':<22}{head}",
        f"{'loopback (raw TCP)':<22}{limit:>12.0f}{'':>23}{limit:>12.0f}",
    ]
    with null_server.running(size, CHUNK) as sink:
        null = Target("null", sink)
        ceiling = {m: max(large(null, m, size, seconds) for _ in range(3)) for m in ("PUT", "GET")}
        rows.append(
            f"{'httpx -> null server':<22}" + "".join(f"{v:>12.0f}{'':>23}" for v in ceiling.values())
        )
    for target in targets:
        row = f"{target.name:<22}"
        for method in ("PUT", "GET"):
            speed = large(target, method, size, seconds)
            ratio, client = speed / limit, speed / ceiling[method]
            row += f"{speed:>12.0f}{ratio:>10.2f} {verdict(target, ratio >= 0.8):<4}{client:>8.2f}"
        rows.append(row)
    notes = "(target: ossdoc / loopback >= 0.8; httpx -> null server is the client's ceiling)"
    return [*rows, notes, ""]


def report_rss(targets: list[Target], size: int, seconds: float) -> list[str]:
    rows = [f"{f'RSS growth, {size // MiB} MiB':<22}{'PUT MiB':>10}{'':>5}{'GET MiB':>10}"]
    for target in targets:
        row = f"{target.name:<22}"
        for method in ("PUT", "GET"):
            growth = rss_growth(target, method, size, seconds)
            row += f"{growth:>10.1f} {verdict(target, growth < 64):<4}"
        rows.append(row)
    return [*rows, "(target: ossdoc < 64 MiB; peak VmRSS sampled every 50 ms minus VmRSS before)"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller counts and sizes: a smoke run")
    parser.add_argument("--skip-seaweedfs", action="store_true")
    parser.add_argument("--only", choices=["small", "large", "rss"])
    args = parser.parse_args()
    count = 300 if args.quick else 2000
    big = (32 if args.quick else 256) * MiB
    huge = (128 if args.quick else 1024) * MiB
    seconds = 10.0 if args.quick else 30.0  # per measurement: each loop stops at a count or a time
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ossdoc-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        # SeaweedFS does not fsync a write; ossdoc does unless OSSDOC_FSYNC=0, so both are measured.
        ossdoc = stack.enter_context(ossdoc_target(workdir))
        nofsync = stack.enter_context(ossdoc_target(workdir, "no-fsync", fsync="0"))
        seaweed = None if args.skip_seaweedfs else stack.enter_context(seaweedfs_target(workdir))
        targets = [ossdoc, nofsync] + ([seaweed] if seaweed else [])
        if args.only in (None, "small"):
            rows += report_small(targets, seaweed, count, seconds)
        if args.only in (None, "large"):
            rows += report_large(targets, big, seconds * 4)
        if args.only in (None, "rss"):
            rows += report_rss([ossdoc] + ([seaweed] if seaweed else []), huge, seconds * 4)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
