"""Loopback load: many SSE document streams and a few object clients against one real ``ossdoc serve``.

The server runs the fake model at a realistic pace (``OSSDOC_FAKE_TOKEN_DELAY_MS``, 30 ms a token by
default) with a slot per stream (``OSSDOC_MODEL_SLOTS``), so every stream generates at once. 200
stream clients each run doc/polish streams back to back for the whole load phase, while 16 object
clients PUT and GET 1 KiB objects; the object clients also run alone before and after (the
baseline, same run). Reports:

- errors other than the documented ``SlowDown`` (must be 0), by kind, with an example of each;
- that every stream's final event arrived (a ``Result``, never an ``error`` or a cut stream);
- p50/p99 latency of the small object requests under load, alone, and the ratio;
- the server's RSS over time, sampled every second from /proc (first, last, max: must stay flat);
- the server's CPU per streamed token, and how long server and clients waited for a CPU.

The clients are Python asyncio (this measures latency under load, not peak throughput): the stream
clients run in a process of their own so that reading 200 streams does not delay the object
clients' timings; the object clients' event-loop lag is reported, since it is part of their
latencies. On a machine with more runnable processes than cores, everyone also waits for a CPU:
the report says how much.

  .venv/bin/python benchmarks/load.py [--streams 200] [--objects 16] [--seconds 60] [--baseline 15]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import oss2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from ossdoc.client import Credentials, sign_v1  # noqa: E402
from ossdoc_server import running  # noqa: E402

SENTENCE = "the quick brown fox jumps over a lazy dog while seven bright stars shine above calm water"
BUCKET = "load"
# Idle connections are dropped by the client before uvicorn drops them (its keep-alive timeout is 5 s,
# httpx's too): else a request sent on a connection the server is closing is reset, a client race.
KEEPALIVE = 2.0


@dataclass
class Tally:
    errors: Counter[str] = field(default_factory=Counter)  # everything but SlowDown
    examples: dict[str, str] = field(default_factory=dict)  # an error message of each kind
    slow_down: int = 0
    streams_started: int = 0
    streams_done: int = 0  # ended with event: Result
    tokens: int = 0  # OutputTokens of the streams done
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"PUT": [], "GET": []})  # seconds
    lags: list[float] = field(default_factory=list)  # event-loop lag of this client, seconds
    waited: float = 0.0  # seconds this client process waited for a CPU

    def error(self, kind: str, example: str) -> None:
        self.errors[kind] += 1
        self.examples.setdefault(kind, example[:300])

    def all_latencies(self) -> list[float]:
        return self.latencies["PUT"] + self.latencies["GET"]


@dataclass(frozen=True)
class Target:
    endpoint: str
    credentials: Credentials

    def headers(self, method: str, resource: str, content_type: str) -> dict[str, str]:
        headers = {"Date": formatdate(usegmt=True), "Content-Type": content_type}
        headers["Authorization"] = sign_v1(self.credentials, method, resource, headers)
        return headers


def words_of(serial: int, count: int) -> list[str]:
    words = SENTENCE.split()
    return [words[(serial + n) % len(words)] for n in range(count)]


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def cpu_wait(pid: int | str = "self") -> float:
    """Seconds the process's main thread has waited on a run queue (/proc/<pid>/schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


async def watch_lag(tally: Tally, until: float) -> None:
    while time.monotonic() < until:
        began = time.monotonic()
        await asyncio.sleep(0.05)
        tally.lags.append(time.monotonic() - began - 0.05)


async def stream_client(
    client: httpx.AsyncClient, target: Target, tally: Tally, until: float, words: int, serial: int
) -> None:
    resource = f"/{BUCKET}/doc.txt?x-oss-process"
    while time.monotonic() < until:
        serial += 1_000
        text = f"Request {serial}: " + " ".join(words_of(serial, words))
        body = f"x-oss-process=doc/polish,content_{b64(text)},format_event-stream"
        tally.streams_started += 1
        try:
            headers = target.headers("POST", resource, "application/x-www-form-urlencoded")
            async with client.stream("POST", target.endpoint + resource, content=body, headers=headers) as r:
                if r.status_code != 200:
                    error = (await r.aread()).decode(errors="replace")
                    if r.status_code == 503 and "<Code>SlowDown</Code>" in error:
                        tally.slow_down += 1
                        await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
                    else:
                        tally.error(f"stream HTTP {r.status_code}", error)
                    continue
                tail = b""
                async for data in r.aiter_raw():
                    tail = (tail + data)[-8192:]  # only the last event matters: no parsing per event
        except httpx.HTTPError as exc:
            tally.error(f"stream {type(exc).__name__}", repr(exc))
            continue
        last = tail.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
        if b"\nevent: Result\n" in b"\n" + last and b'"FinishReason":"stop"' in last:
            tally.streams_done += 1
            tally.tokens += int(last.rsplit(b'"OutputTokens":', 1)[1].split(b"}")[0])
        elif b"event: error" in last:
            tally.error("stream ended with event: error", last.decode(errors="replace"))
        else:
            tally.error("stream ended without its final event", last.decode(errors="replace"))


def stream_process(target: Target, streams: int, until: float, words: int, report: Connection) -> None:
    """The stream clients, in a process of their own; reports "started", then its Tally."""

    async def run() -> Tally:
        tally = Tally()
        limits = httpx.Limits(max_connections=streams, keepalive_expiry=KEEPALIVE)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            tasks = [stream_client(client, target, tally, until, words, n) for n in range(streams)]
            running_tasks = [asyncio.create_task(task) for task in tasks]
            while tally.streams_started < streams:
                await asyncio.sleep(0.05)
            report.send("started")
            await asyncio.gather(*running_tasks)  # the streams in flight run to their end
        return tally

    waited = cpu_wait()
    tally = asyncio.run(run())
    tally.waited = cpu_wait() - waited
    report.send(tally)


async def object_client(
    client: httpx.AsyncClient, target: Target, tally: Tally, until: float, number: int, phase: str
) -> None:
    data = os.urandom(1024)
    count = 0
    while time.monotonic() < until:
        key = f"obj-{phase}-{number}-{count % 32}"
        count += 1
        for method in ("PUT", "GET"):
            headers = target.headers(method, f"/{BUCKET}/{key}", "application/octet-stream")
            began = time.perf_counter()
            try:
                reply = await client.request(
                    method,
                    f"{target.endpoint}/{BUCKET}/{key}",
                    content=data if method == "PUT" else None,
                    headers=headers,
                )
            except httpx.HTTPError as exc:
                tally.error(f"object {method} {type(exc).__name__}", repr(exc))
                break  # a GET after a failed PUT would read another phase's object
            tally.latencies[method].append(time.perf_counter() - began)
            if reply.status_code != 200:
                tally.error(f"object {method} HTTP {reply.status_code}", reply.text)
            elif method == "GET" and reply.content != data:
                tally.error("object GET: other content than was PUT", key)


async def objects(target: Target, clients: int, seconds: float, phase: str) -> Tally:
    tally = Tally()
    until = time.monotonic() + seconds
    waited = cpu_wait()
    limits = httpx.Limits(max_connections=clients, keepalive_expiry=KEEPALIVE)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        work = [object_client(client, target, tally, until, n, phase) for n in range(clients)]
        await asyncio.gather(watch_lag(tally, until), *work)
    tally.waited = cpu_wait() - waited
    return tally


class Sampler:
    """The server's RSS (MiB), every second, in a thread of its own; its CPU time and CPU wait."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rss: list[tuple[float, float]] = []  # (seconds since start, MiB)
        self.start = time.monotonic()
        self._stop = threading.Event()

    def rss_now(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def run(self) -> None:
        while not self._stop.is_set():
            self.rss.append((time.monotonic() - self.start, self.rss_now()))
            self._stop.wait(1)

    def stop(self) -> None:
        self._stop.set()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summary(values: list[float]) -> str:
    ms = 1000
    if not values:
        return "no requests"
    return (
        f"{len(values)} requests, p50 {quantile(values, 0.5) * ms:.1f} ms, "
        f"p99 {quantile(values, 0.99) * ms:.1f} ms, mean {statistics.fmean(values) * ms:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--objects", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--baseline", type=float, default=15, help="seconds of objects alone, before, after")
    parser.add_argument("--token-ms", type=int, default=30)
    parser.add_argument("--words", type=int, default=80, help="words per document (about one token each)")
    parser.add_argument("--fsync", default="1", help="OSSDOC_FSYNC of the server (0: PUT without fsync)")
    args = parser.parse_args()
    settings = {
        "llm": "fake",
        "fake_token_delay_ms": str(args.token_ms),
        "model_slots": str(args.streams),
        "queue_size": str(args.streams),
        "cache_bytes": "0",
        "fsync": args.fsync,
        "log_level": "warning",
    }
    with tempfile.TemporaryDirectory() as tmp, running(Path(tmp) / "data", **settings) as server:
        auth = oss2.Auth(server.access_key_id, server.access_key_secret)
        oss2.Bucket(auth, server.endpoint, BUCKET).create_bucket()
        target = Target(server.endpoint, Credentials(server.access_key_id, server.access_key_secret))
        # The worker process serves (`ossdoc serve` is a supervisor with one worker here).
        (worker,) = server.children() or [server.process.pid]
        sampler = Sampler(worker)
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        idle_rss = sampler.rss_now()
        before = asyncio.run(objects(target, args.objects, args.baseline, "before"))

        load_before = os.getloadavg()[0]
        cpu0, wait0, wall0 = sampler.cpu(), cpu_wait(worker), time.monotonic()
        until = wall0 + args.seconds
        mine, theirs = multiprocessing.Pipe()
        child = multiprocessing.get_context("spawn").Process(
            target=stream_process, args=(target, args.streams, until, args.words, theirs)
        )
        child.start()
        assert mine.recv() == "started"
        time.sleep(1)  # every stream has been admitted and is generating
        measured = asyncio.run(objects(target, args.objects, until - time.monotonic(), "load"))
        streaming: Tally = mine.recv()
        child.join()
        wall = time.monotonic() - wall0
        server_cpu, server_wait = sampler.cpu() - cpu0, cpu_wait(worker) - wait0
        load = (wall0 - sampler.start, time.monotonic() - sampler.start)
        load_during = os.getloadavg()[0]

        after = asyncio.run(objects(target, args.objects, args.baseline, "after"))
        sampler.stop()
        thread.join()
        alive = server.process.poll() is None
        log = server.log.read_text(errors="replace")

    print(
        f"load: {args.streams} SSE streams (fake model, {args.token_ms} ms a token, {args.words}-word "
        f"documents) + {args.objects} object clients (1 KiB PUT+GET) for {args.seconds:g} s; "
        f"objects alone {args.baseline:g} s before and after"
    )
    print(
        f"streams: {streaming.streams_started} started, {streaming.streams_done} ended with their final "
        f"Result event, {streaming.slow_down} SlowDown (documented)"
    )
    errors = streaming.errors + measured.errors + before.errors + after.errors
    print(f"errors other than SlowDown: {sum(errors.values())}" + (f" {dict(errors)}" if errors else ""))
    for tally in (streaming, measured, before, after):
        for kind, example in tally.examples.items():
            print(f"  {kind}: {example}")
    baseline, under = before.all_latencies() + after.all_latencies(), measured.all_latencies()
    print(f"object requests alone: {summary(baseline)}")
    print(f"object requests under load: {summary(under)}")
    for method in ("PUT", "GET"):
        print(f"  {method} alone: {summary(before.latencies[method] + after.latencies[method])}")
        print(f"  {method} under load: {summary(measured.latencies[method])}")
    p50, p99 = (quantile(under, q) / quantile(baseline, q) for q in (0.5, 0.99))
    print(f"  ratio under load / alone: p50 {p50:.1f}x, p99 {p99:.1f}x")
    lag_alone = before.lags + after.lags
    print(
        f"object clients' event-loop lag: p99 {quantile(lag_alone, 0.99) * 1000:.1f} ms alone, "
        f"{quantile(measured.lags, 0.99) * 1000:.1f} ms under load (part of their latencies)"
    )
    during = [mib for at, mib in sampler.rss if load[0] <= at <= load[1]]
    print(
        f"server RSS MiB: idle {idle_rss:.0f}; under load first {during[0]:.0f}, last {during[-1]:.0f}, "
        f"max {max(during):.0f}; after the load {sampler.rss[-1][1]:.0f}"
    )
    step = max(1, len(during) // 12)
    print("  every few seconds: " + " ".join(f"{mib:.0f}" for mib in during[::step]))
    per_token = server_cpu / max(1, streaming.tokens) * 1e6
    print(
        f"server CPU: {server_cpu / wall:.0%} of a core during the load, {per_token:.0f} µs per streamed "
        f"token ({streaming.tokens} tokens; object requests included)"
    )
    print(
        f"waiting for a CPU during the load ({wall:.0f} s): server {server_wait:.1f} s, stream clients "
        f"{streaming.waited:.1f} s, object clients {measured.waited:.1f} s; load average "
        f"{load_before:.1f} → {load_during:.1f} on {len(os.sched_getaffinity(0))} cores"
    )
    print(f"server still up at the end: {alive}")
    if log.count("\n") > 1:
        print("server log (tail):\n" + log[-3000:])


if __name__ == "__main__":
    main()
