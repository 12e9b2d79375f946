"""What observability costs a request: the per-request key lookup of a keys.json key against a stat
per lookup and a dict; a signed 4 KiB GET through the whole app in process, with and without the
request observer (metrics, usage totals); and 4 KiB GETs (presigned V1 URL) driven by wrk at c=16
against one ossdoc process without the observer (the baseline), with it and request lines off (log
level warning), plain and JSON.

    .venv/bin/python benchmarks/observability.py [--seconds 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import oss2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from ossdoc_server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, free_port, wait_for_port

# The baseline server: the same app with its observer taken out.
NO_OBSERVER = """
import sys
import ossdoc.server as server
from ossdoc.config import Settings
made = server.create_app
def create_app(*args):
    app = made(*args)
    app.observer = None
    return app
server.create_app = create_app
server.serve(Settings.from_env(port=int(sys.argv[1]), data=sys.argv[2]))
"""


def start(data: Path, port: int, observer: bool, level: str, fmt: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSSDOC_")}
    env.update(
        OSSDOC_ACCESS_KEY_ID=ACCESS_KEY_ID,
        OSSDOC_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
        OSSDOC_LLM="fake",
        OSSDOC_LOG_LEVEL=level,
        OSSDOC_LOG_FORMAT=fmt,
    )
    if observer:
        command = [sys.executable, "-m", "ossdoc", "serve", "--port", str(port), "--data", str(data)]
    else:
        command = [sys.executable, "-c", NO_OBSERVER, str(port), str(data)]
    log = data.parent / f"server-{port}.log"
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    wait_for_port(port, process, log)
    return process


def wrk(url: str, seconds: int) -> float:
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", url], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def server_rate(root: Path, name: str, observer: bool, level: str, fmt: str, seconds: int) -> float:
    from ossdoc.keys import create

    data = root / name
    key = create(data)  # signed with a key of keys.json: each request looks it up in the shared store
    port = free_port()
    process = start(data, port, observer, level, fmt)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        bucket = oss2.Bucket(oss2.Auth(key.id, key.secret), endpoint, "bench")
        bucket.create_bucket()
        bucket.put_object("small", os.urandom(4096))
        url = bucket.sign_url("GET", "small", 3600)
        wrk(url, 2)  # warm up
        return wrk(url, seconds)
    finally:
        process.terminate()
        process.wait(30)


def key_lookup() -> tuple[float, float, float]:
    """µs per lookup of a keys.json key: the ring (generation counter), a stat per lookup, a dict."""
    from ossdoc.keys import KeyRing, create

    with tempfile.TemporaryDirectory() as tmp:
        key = create(Path(tmp))
        ring = KeyRing(Path(tmp))
        plain = {key.id: key.secret}
        path = str(Path(tmp) / "keys.json")

        def stat_then_get() -> str | None:
            os.stat(path)
            return plain.get(key.id)

        def best(fn: object) -> float:
            n = 100_000
            return min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6  # type: ignore[arg-type]

        return best(lambda: ring.secret_for(key.id)), best(stat_then_get), best(lambda: plain.get(key.id))


def in_process(rounds: int = 5, n: int = 2000) -> tuple[float, float]:
    """µs per signed 4 KiB GET through the whole app (no HTTP), with and without the observer
    (request lines off), alternating in rounds; in multiprocess metrics mode, as ``serve`` runs."""
    import asyncio
    import logging
    from email.utils import formatdate

    from ossdoc.client import Credentials, sign_v1
    from ossdoc.config import Settings
    from ossdoc.keys import create, load_or_create
    from ossdoc.observability import metrics
    from ossdoc.server import create_app

    logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        metrics.prepare(data / "run" / "metrics")
        key = create(data)
        keys, _ = load_or_create(data)
        app = create_app(Settings.from_env(data=data, llm="fake"), keys)
        credentials = Credentials(key.id, key.secret)

        async def call(method: str, path: str, body: bytes = b"") -> int:
            headers = {"Date": formatdate(usegmt=True), "Host": "127.0.0.1"}
            headers["Authorization"] = sign_v1(credentials, method, path, headers)
            scope = {
                "type": "http",
                "method": method,
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            }
            messages = [{"type": "http.request", "body": body, "more_body": False}]
            status = 0

            async def receive() -> dict[str, object]:
                return messages.pop() if messages else {"type": "http.disconnect"}

            async def send(message: dict[str, object]) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])  # type: ignore[call-overload]

            await app(scope, receive, send)  # type: ignore[arg-type]
            return status

        async def run() -> tuple[float, float]:
            assert app.observer is not None
            observer = app.observer
            manager = app.lifespan()
            app.state = await manager.__aenter__()
            try:
                assert await call("PUT", "/bench/") == 200
                assert await call("PUT", "/bench/small", os.urandom(4096)) == 200
                best = {True: float("inf"), False: float("inf")}
                for round_ in range(rounds):
                    for on in (round_ % 2 == 0, round_ % 2 == 1):
                        app.observer = observer if on else None
                        began = time.perf_counter()
                        for _ in range(n):
                            await call("GET", "/bench/small")
                        best[on] = min(best[on], (time.perf_counter() - began) / n * 1e6)
                return best[True], best[False]
            finally:
                app.observer = observer
                await manager.__aexit__(None, None, None)

        return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    ring, stat, plain = key_lookup()
    print(
        f"key lookup (µs): KeyRing {ring:.2f}, a stat per lookup {stat:.2f}, a dict {plain:.3f}; "
        f"KeyRing ÷ stat {ring / stat:.3f}"
    )
    observed, bare = in_process()
    print(
        f"signed 4 KiB GET through the app, in process (µs): {bare:.1f} without the observer, "
        f"{observed:.1f} with it (request lines off): ratio {observed / bare:.3f}"
    )
    configs = [
        ("no observer (baseline)", False, "warning", "plain"),
        ("observer, request lines off", True, "warning", "plain"),
        ("observer, plain request lines", True, "info", "plain"),
        ("observer, JSON request lines", True, "info", "json"),
    ]
    rates: dict[str, list[float]] = {name: [] for name, *_ in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):  # interleaved and rotated, so drift hits every configuration alike
            order = configs[round_ % len(configs) :] + configs[: round_ % len(configs)]
            for n, (name, observer, level, fmt) in enumerate(order):
                rate = server_rate(Path(tmp), f"r{round_}c{n}", observer, level, fmt, args.seconds)
                rates[name].append(rate)
                time.sleep(0.5)
    base = max(rates[configs[0][0]])
    print(f"\n4 KiB GET, wrk -t2 -c16, best of {args.rounds} × {args.seconds} s, one server process")
    print(f"{'configuration':<32} {'ops/s':>9} {'µs/op':>8} {'ratio':>6}")
    for name, *_ in configs:
        best = max(rates[name])
        print(f"{name:<32} {best:>9.0f} {1e6 / best:>8.1f} {best / base:>6.3f}")


if __name__ == "__main__":
    main()
