"""Loopback load: many SSE document streams and a few object clients against one real ``ossdoc serve``.

The server runs the fake model at a realistic pace (``OSSDOC_FAKE_TOKEN_DELAY_MS``, 30 ms a token by
default) with a slot per stream, so every stream generates at once. 200 stream clients each run
doc/polish streams back to back for the whole load phase, while 16 object clients PUT and GET 1 KiB
objects; the object clients also run alone before and after (the baseline, same run). Reports:

- errors other than the documented ``SlowDown`` (must be 0), by kind;
- that every stream's final event arrived (a ``Result``, never an ``error`` or a cut stream);
- p50/p99 latency of the small object requests under load, alone, and the ratio;
- the server's RSS over time, sampled every second from /proc (first, last, max: must stay flat);
- CPU of the server and of this client: the clients are Python asyncio (this measures latency under
  load, not peak throughput); when the client itself uses most of a core, its own scheduling delay
  is part of the latencies, and the report says so.

  .venv/bin/python benchmarks/load.py [--streams 200] [--objects 16] [--seconds 60] [--baseline 15]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import oss2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from doc_http import signed_headers  # noqa: E402
from ossdoc_server import RunningServer, running  # noqa: E402

WORDS = "the quick brown fox jumps over a lazy dog while seven bright stars shine above calm water"
BUCKET = "load"


@dataclass
class Tally:
    errors: Counter[str] = field(default_factory=Counter)  # everything but SlowDown
    slow_down: int = 0
    streams_started: int = 0
    streams_done: int = 0  # ended with event: Result
    latencies: list[float] = field(default_factory=list)  # object requests, seconds


def text_of(words: int, serial: int) -> str:
    return f"Request {serial}: " + " ".join(WORDS.split()[(serial + n) % 16] for n in range(words)) + "."


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


async def stream_client(
    client: httpx.AsyncClient, server: RunningServer, tally: Tally, until: float, words: int, serial: int
) -> None:
    resource = f"/{BUCKET}/doc.txt?x-oss-process"
    while time.monotonic() < until:
        serial += 1_000
        body = f"x-oss-process=doc/polish,content_{b64(text_of(words, serial))},format_event-stream"
        tally.streams_started += 1
        try:
            headers = signed_headers(server, "POST", resource)
            async with client.stream("POST", server.endpoint + resource, content=body, headers=headers) as r:
                if r.status_code != 200:
                    text = (await r.aread()).decode(errors="replace")
                    if r.status_code == 503 and "<Code>SlowDown</Code>" in text:
                        tally.slow_down += 1
                        await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                    else:
                        tally.errors[f"stream HTTP {r.status_code}"] += 1
                    continue
                tail = b""
                async for data in r.aiter_raw():
                    tail = (tail + data)[-8192:]  # only the last event matters: no parsing per event
            last = tail.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
            if b"\nevent: Result\n" in b"\n" + last and b'"FinishReason":"stop"' in last:
                tally.streams_done += 1
            elif b"event: error" in last:
                tally.errors["stream ended with event: error"] += 1
            else:
                tally.errors["stream ended without its final event"] += 1
        except httpx.HTTPError as exc:
            tally.errors[f"stream {type(exc).__name__}"] += 1


async def object_client(
    client: httpx.AsyncClient, server: RunningServer, tally: Tally, until: float, number: int
) -> None:
    data = os.urandom(1024)
    count = 0
    while time.monotonic() < until:
        key = f"obj-{number}-{count % 32}"
        count += 1
        for method in ("PUT", "GET"):
            extra = {"Content-Type": "application/octet-stream"} if method == "PUT" else {}
            headers = signed_headers(server, method, f"/{BUCKET}/{key}", extra)
            began = time.perf_counter()
            try:
                reply = await client.request(
                    method,
                    f"{server.endpoint}/{BUCKET}/{key}",
                    content=data if method == "PUT" else None,
                    headers=headers,
                )
            except httpx.HTTPError as exc:
                tally.errors[f"object {method} {type(exc).__name__}"] += 1
                continue
            tally.latencies.append(time.perf_counter() - began)
            if reply.status_code != 200 or (method == "GET" and reply.content != data):
                tally.errors[f"object {method} HTTP {reply.status_code}"] += 1


async def objects_alone(server: RunningServer, clients: int, seconds: float) -> Tally:
    tally = Tally()
    until = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=clients)) as client:
        await asyncio.gather(*(object_client(client, server, tally, until, n) for n in range(clients)))
    return tally


async def under_load(
    server: RunningServer, streams: int, objects: int, seconds: float, words: int
) -> tuple[Tally, Tally]:
    """(streams' tally, objects' tally). Streams start first; objects are measured once all run."""
    streaming, measured = Tally(), Tally()
    limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)
    async with (
        httpx.AsyncClient(timeout=120, limits=limits) as stream_http,
        httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=objects)) as object_http,
    ):
        until = time.monotonic() + seconds
        tasks = [
            asyncio.create_task(stream_client(stream_http, server, streaming, until, words, n))
            for n in range(streams)
        ]
        while streaming.streams_started < streams:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)  # every stream has been admitted and is generating
        await asyncio.gather(
            *(object_client(object_http, server, measured, until, n) for n in range(objects))
        )
        await asyncio.gather(*tasks)  # the streams in flight run to their end
    return streaming, measured


class Sampler:
    """The server's RSS (MiB) and CPU seconds, every second, in a thread of its own."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rss: list[tuple[float, float]] = []  # (seconds since start, MiB)
        self.start = time.monotonic()
        self._stop = False

    def rss_now(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def run(self) -> None:
        while not self._stop:
            self.rss.append((time.monotonic() - self.start, self.rss_now()))
            time.sleep(1)

    def stop(self) -> None:
        self._stop = True


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--objects", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--baseline", type=float, default=15, help="seconds of objects alone, before and after"
    )
    parser.add_argument("--token-ms", type=int, default=30)
    parser.add_argument("--words", type=int, default=80, help="words per document (about one token each)")
    args = parser.parse_args()
    settings = {
        "llm": "fake",
        "fake_token_delay_ms": str(args.token_ms),
        "model_slots": str(args.streams),
        "queue_size": str(args.streams),
        "cache_bytes": "0",
        "log_level": "warning",
    }
    with tempfile.TemporaryDirectory() as tmp, running(Path(tmp) / "data", **settings) as server:
        auth = oss2.Auth(server.access_key_id, server.access_key_secret)
        oss2.Bucket(auth, server.endpoint, BUCKET).create_bucket()
        sampler = Sampler(server.process.pid)
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        idle_rss = sampler.rss_now()
        before = asyncio.run(objects_alone(server, args.objects, args.baseline))
        cpu0, client0, wall0 = sampler.cpu(), time.process_time(), time.monotonic()
        load_start = time.monotonic() - sampler.start
        streaming, measured = asyncio.run(
            under_load(server, args.streams, args.objects, args.seconds, args.words)
        )
        load_end = time.monotonic() - sampler.start
        wall = time.monotonic() - wall0
        server_cpu, client_cpu = (sampler.cpu() - cpu0) / wall, (time.process_time() - client0) / wall
        after = asyncio.run(objects_alone(server, args.objects, args.baseline))
        sampler.stop()
        thread.join()
        alive = server.process.poll() is None
    report(args, before, after, streaming, measured, sampler, (load_start, load_end), idle_rss)
    print(f"CPU during the load phase (share of one core): server {server_cpu:.0%}, client {client_cpu:.0%}")
    if client_cpu > 0.8:
        print(
            "  note: the Python client used most of a core; its own scheduling delay is part of the latencies"
        )
    print(f"server still up at the end: {alive}")


def report(
    args: argparse.Namespace,
    before: Tally,
    after: Tally,
    streaming: Tally,
    measured: Tally,
    sampler: Sampler,
    load: tuple[float, float],
    idle_rss: float,
) -> None:
    baseline = before.latencies + after.latencies
    print(
        f"load: {args.streams} SSE streams (fake model, {args.token_ms} ms a token, {args.words}-word "
        f"documents) + {args.objects} object clients (1 KiB PUT+GET) for {args.seconds:g} s"
    )
    print(
        f"streams: {streaming.streams_started} started, {streaming.streams_done} ended with their final "
        f"Result event, {streaming.slow_down} SlowDown (documented)"
    )
    errors = streaming.errors + measured.errors + before.errors + after.errors
    print(f"errors other than SlowDown: {sum(errors.values())}" + (f" {dict(errors)}" if errors else ""))
    ms = 1000
    for name, values in (("alone (baseline)", baseline), ("under load", measured.latencies)):
        print(
            f"object requests {name}: {len(values)} requests, p50 {quantile(values, 0.5) * ms:.1f} ms, "
            f"p99 {quantile(values, 0.99) * ms:.1f} ms, mean {statistics.fmean(values) * ms:.1f} ms"
        )
    p50, p99 = (quantile(measured.latencies, q) / quantile(baseline, q) for q in (0.5, 0.99))
    print(f"  ratio under load / alone: p50 {p50:.1f}x, p99 {p99:.1f}x")
    during = [mib for at, mib in sampler.rss if load[0] <= at <= load[1]]
    warm = [mib for at, mib in sampler.rss if load[0] + 5 <= at <= load[1]] or during
    print(
        f"server RSS MiB: idle {idle_rss:.0f}; under load first {during[0]:.0f}, after 5 s {warm[0]:.0f}, "
        f"last {during[-1]:.0f}, max {max(during):.0f}; at the end {sampler.rss[-1][1]:.0f}"
    )
    step = max(1, len(during) // 12)
    print("  every few seconds: " + " ".join(f"{mib:.0f}" for mib in during[::step]))


if __name__ == "__main__":
    main()
