"""Prometheus metrics, aggregated across the server's worker processes.

prometheus_client's multiprocess mode keeps each process's values in memory-mapped files in one
directory (``PROMETHEUS_MULTIPROC_DIR``) and sums them at scrape time. Whoever starts the server
calls ``prepare(dir)`` before any worker starts (it empties the directory and sets the variable the
workers inherit), and ``worker_exited(pid)`` when a worker goes, so its live gauges stop counting.
Without ``prepare`` (an app built in-process, in tests) the metrics are this process's alone.

Labels stay bounded: operation names (one per route), status codes, directions; never a bucket,
a key or an access key id (per-key totals are in ``usage``)."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from pathlib import Path
from time import monotonic
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

ENV = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_TTFT = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
_RATE = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)


def prepare(directory: Path) -> None:
    """Before the workers start: an empty metrics directory, named in the environment they inherit."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(directory)
    import prometheus_client.values as values

    # The value class is chosen when prometheus_client is imported: choose again, now that the
    # directory is set (metrics are created lazily, after this).
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def worker_exited(pid: int) -> None:
    """A worker process is gone: drop its live gauges (active streams, queue depth)."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Metrics:
    requests: Counter
    latency: Histogram
    bytes_in: Counter
    bytes_out: Counter
    first_token: Histogram
    tokens_per_second: Histogram
    tokens: Counter
    queue_depth: Gauge
    active_streams: Gauge
    cache: Counter


_metrics: Metrics | None = None


def get() -> Metrics:
    global _metrics
    if _metrics is None:
        _metrics = _create()
    return _metrics


def _create() -> Metrics:
    from prometheus_client import Counter, Gauge, Histogram

    op = ["operation"]
    return Metrics(
        requests=Counter("ossdoc_requests", "Requests answered", ["operation", "status"]),
        latency=Histogram(
            "ossdoc_request_duration_seconds", "Time to answer, to the last byte", op, buckets=_LATENCY
        ),
        bytes_in=Counter("ossdoc_request_bytes", "Request body bytes received", op),
        bytes_out=Counter("ossdoc_response_bytes", "Response body bytes sent", op),
        first_token=Histogram(
            "ossdoc_time_to_first_token_seconds",
            "From a document request's admission to its first text",
            op,
            buckets=_TTFT,
        ),
        tokens_per_second=Histogram(
            "ossdoc_generation_tokens_per_second", "Output tokens per second of generation", op, buckets=_RATE
        ),
        tokens=Counter("ossdoc_tokens", "Model tokens", ["operation", "direction"]),
        queue_depth=Gauge(
            "ossdoc_generation_queue_depth",
            "Document requests admitted, generating or waiting",
            multiprocess_mode="livesum",
        ),
        active_streams=Gauge(
            "ossdoc_active_streams", "Server-sent event streams open", multiprocess_mode="livesum"
        ),
        cache=Counter("ossdoc_result_cache_lookups", "Result cache lookups", ["result"]),
    )


async def observed(steps: AsyncGenerator[Any, None], operation: str) -> AsyncGenerator[Any, None]:
    """A generation's steps (``Progress``), timed: first text, tokens, tokens per second."""
    from ossdoc.observability import usage

    m = get()
    started = monotonic()
    first: float | None = None
    last: Any = None
    try:
        async for step in steps:
            if first is None:
                first = monotonic()
                m.first_token.labels(operation).observe(first - started)
            last = step
            yield step
    finally:
        await steps.aclose()
        if last is not None:
            m.tokens.labels(operation, "input").inc(last.input_tokens)
            m.tokens.labels(operation, "output").inc(last.output_tokens)
            usage.add_tokens(last.input_tokens, last.output_tokens)
            elapsed = monotonic() - (first or started)
            if last.finish_reason is not None and last.output_tokens > 1 and elapsed > 0:
                m.tokens_per_second.labels(operation).observe(last.output_tokens / elapsed)


def render(data: Path | None) -> tuple[bytes, str]:
    """The exposition text of every process's metrics, and the task states in ``data``."""
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        generate_latest,
        multiprocess,
    )

    get()  # so that a scrape before any request still lists every metric
    if os.environ.get(ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        for collector in list(REGISTRY._collector_to_names):  # this process's metrics
            registry.register(collector)
    if data is not None:
        registry.register(TaskStates(data / "tasks.sqlite3"))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class TaskStates:
    """Asynchronous tasks by state, read from the shared task store at each scrape."""

    STATES = ("Queued", "Running", "Succeeded", "Failed", "Cancelled")

    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily("ossdoc_tasks", "Asynchronous tasks kept, by state", labels=["state"])
        counts = dict.fromkeys(self.STATES, 0)
        if self.path.exists():
            try:
                db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=1)
                try:
                    counts.update(db.execute("SELECT state, COUNT(*) FROM tasks GROUP BY state").fetchall())
                finally:
                    db.close()
            except sqlite3.Error:
                pass  # no table yet
        for state, count in counts.items():
            family.add_metric([state], count)
        yield family

    def describe(self) -> list[Any]:
        return []
