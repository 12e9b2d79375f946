"""What observability costs a request: 4 KiB GETs (presigned V1 URL) driven by wrk at c=16 against
one ossdoc process, with the request observer (metrics, usage, log line) removed (the baseline),
with it and request lines off (log level warning), plain and JSON; and the per-request key lookup
(a stat of keys.json) against a dict lookup, in process.

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


def observer_cost(n: int = 20_000) -> tuple[float, float]:
    """µs per request of the observer alone (wrapping receive and send, metrics, usage; the log line
    off), against the same ASGI calls unwrapped."""
    import asyncio
    import logging
    from types import SimpleNamespace

    from ossdoc.observability.access import CONTEXT, ROUTE, Observer
    from ossdoc.wire.routes import router

    logging.getLogger("ossdoc.request").setLevel(logging.WARNING)
    route = router.resolve("GET", "object", set())
    ctx = SimpleNamespace(principal="LTAIbench", request_id="0" * 24, bucket="b", key="k")
    scope = {"method": "GET", "path": "/b/k", "query_string": b"", CONTEXT: ctx, ROUTE: route}
    start = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4096")]}
    body = {"type": "http.response.body", "body": b"x" * 4096}

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    async def send(message: object) -> None:
        return None

    with tempfile.TemporaryDirectory() as tmp:
        observer = Observer(router, Path(tmp))

        async def observed() -> float:
            began = time.perf_counter()
            for _ in range(n):
                exchange = observer.exchange(receive, send)
                await exchange.receive()
                await exchange.send(start)
                await exchange.send(body)
                exchange.finish(scope)
            return time.perf_counter() - began

        async def bare() -> float:
            began = time.perf_counter()
            for _ in range(n):
                await receive()
                await send(start)
                await send(body)
            return time.perf_counter() - began

        with_observer = min(asyncio.run(observed()) for _ in range(3)) / n * 1e6
        without = min(asyncio.run(bare()) for _ in range(3)) / n * 1e6
        observer.close()
    return with_observer, without


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
    observed, bare = observer_cost()
    print(f"observer per request (µs, in process, log line off): {observed - bare:.1f}")
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
