"""/-/metrics, /-/healthz, /-/readyz, /-/usage and request logs of a real server."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import oss2
from prometheus_client.parser import text_string_to_metric_families

from doc_http import b64, make_bucket
from ossdoc import client
from ossdoc_server import RunningServer, running

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: RunningServer) -> Samples:
    reply = httpx.get(f"{server.endpoint}/-/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def process(server: RunningServer, bucket: str, text: str, stream: bool) -> list[dict[str, object]]:
    credentials = client.Credentials(server.access_key_id, server.access_key_secret)
    request = f"doc/polish,content_{b64(text)}" + (",format_event-stream" if stream else "")
    return list(client.process(server.endpoint, credentials, bucket, "doc.txt", request))


def test_metrics_move_after_traffic(server: RunningServer) -> None:
    before = scrape(server)
    bucket_name = make_bucket(server)
    bucket = oss2.Bucket(
        oss2.Auth(server.access_key_id, server.access_key_secret), server.endpoint, bucket_name
    )
    for n in range(5):
        bucket.put_object(f"k{n}", b"x" * 1000)
        assert bucket.get_object(f"k{n}").read() == b"x" * 1000
    with contextlib.suppress(oss2.exceptions.NoSuchKey):
        bucket.get_object("missing")
    text = f"metrics {time.time()}: the quick brown fox jumps over the lazy dog."
    process(server, bucket_name, text, stream=True)
    process(server, bucket_name, text, stream=False)  # the same again: from the result cache
    task = bucket.async_process_object(
        "doc.txt", f"doc/polish,content_{b64(text + '!')}|sys/saveas,o_{b64('out.txt')}"
    )
    for _ in range(400):
        if bucket.object_exists("out.txt"):
            break
        time.sleep(0.025)
    assert task.task_id
    after = scrape(server)

    def grew(name: str, by: float = 1, **labels: str) -> bool:
        return value(after, name, **labels) - value(before, name, **labels) >= by

    assert grew("ossdoc_requests_total", 5, operation="PutObject", status="200")
    assert grew("ossdoc_requests_total", 5, operation="GetObject", status="200")
    assert grew("ossdoc_requests_total", 1, operation="GetObject", status="404")
    assert grew("ossdoc_requests_total", 2, operation="ProcessObject", status="200")
    assert grew("ossdoc_requests_total", 1, operation="AsyncProcessObject", status="200")
    assert grew("ossdoc_request_duration_seconds_count", 5, operation="GetObject")
    assert grew("ossdoc_request_duration_seconds_bucket", 5, operation="PutObject", le="+Inf")
    assert value(after, "ossdoc_request_duration_seconds_sum", operation="PutObject") > 0
    assert grew("ossdoc_request_bytes_total", 5000, operation="PutObject")
    assert grew("ossdoc_response_bytes_total", 5000, operation="GetObject")
    assert grew("ossdoc_time_to_first_token_seconds_count", 2, operation="doc/polish")
    assert grew("ossdoc_generation_tokens_per_second_count", 2, operation="doc/polish")
    assert grew("ossdoc_tokens_total", 10, operation="doc/polish", direction="output")
    assert grew("ossdoc_result_cache_lookups_total", 1, result="hit")
    assert grew("ossdoc_result_cache_lookups_total", 2, result="miss")
    assert value(after, "ossdoc_tasks", state="Succeeded") >= 1
    # Nothing in flight now; both gauges are exported.
    assert ("ossdoc_active_streams", frozenset()) in after
    assert value(after, "ossdoc_active_streams") == 0
    assert value(after, "ossdoc_generation_queue_depth") == 0
    # Labels never carry a bucket or a key.
    assert not any(bucket_name in str(labels) for _, labels in after)


def test_health_readiness_and_usage(server: RunningServer, tmp_path: Path) -> None:
    assert httpx.get(f"{server.endpoint}/-/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.endpoint}/-/readyz")
    assert ready.status_code == 200 and ready.json()["model"] is True and ready.json()["storage"] is True
    denied = httpx.get(f"{server.endpoint}/-/usage")
    assert denied.status_code == 403 and b"AccessDenied" in denied.content
    bucket = make_bucket(server)
    process(server, bucket, f"usage {time.time()}", stream=False)
    env = {
        "OSSDOC_ENDPOINT": server.endpoint,
        "OSSDOC_ACCESS_KEY_ID": server.access_key_id,
        "OSSDOC_ACCESS_KEY_SECRET": server.access_key_secret,
        "XDG_CONFIG_HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    command = [sys.executable, "-m", "ossdoc", "usage", "--json"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    (mine,) = [row for row in json.loads(result.stdout) if row["AccessKeyId"] == server.access_key_id]
    assert mine["Caller"] is True and mine["Requests"] >= 2
    assert mine["InputTokens"] > 0 and mine["OutputTokens"] > 0 and mine["BytesOut"] > 0
    wrong = {**env, "OSSDOC_ACCESS_KEY_SECRET": "wrong"}
    refused = subprocess.run(command, env=wrong, capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 1 and "SignatureDoesNotMatch" in refused.stderr


def test_json_request_logs(tmp_path: Path) -> None:
    with running(tmp_path / "data", log_level="info", log_format="json") as server:
        bucket = make_bucket(server)
        oss2.Bucket(
            oss2.Auth(server.access_key_id, server.access_key_secret), server.endpoint, bucket
        ).put_object("hello.txt", b"hello")
        reply = httpx.get(f"{server.endpoint}/{bucket}/hello.txt")  # anonymous: denied
        assert reply.status_code == 403
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]
    (put,) = [line for line in lines if line.get("operation") == "PutObject"]
    assert put["status"] == 200 and put["bytes_in"] == 5 and put["key_id"] == server.access_key_id
    assert put["bucket"] == bucket and put["key"] == "hello.txt" and put["duration_ms"] > 0
    assert len(put["request_id"]) == 24 and put["level"] == "info" and put["logger"] == "ossdoc.request"
    (denied,) = [line for line in lines if line.get("operation") == "GetObject"]
    assert denied["status"] == 403 and denied["key_id"] == "" and denied["bytes_out"] > 0
    # Every line is JSON, uvicorn's own included.
    assert all(
        line.startswith("{")
        for line in server.log.read_text().splitlines()
        if line.strip() and not line.startswith(("ossdoc listening", "web console", "generated", "  "))
    )


AGGREGATE = """
import multiprocessing, sys
from pathlib import Path
from ossdoc.observability import metrics

def work(n):
    m = metrics.get()
    m.requests.labels("GetObject", "200").inc(n)
    m.active_streams.inc()

if __name__ == "__main__":
    metrics.prepare(Path(sys.argv[1]))
    context = multiprocessing.get_context("spawn")
    pids = []
    for n in (2, 3):
        p = context.Process(target=work, args=(n,))
        p.start(); p.join(); pids.append(p.pid)
    metrics.worker_exited(pids[0])
    body, _ = metrics.render(None)
    sys.stdout.write(body.decode())
"""


def test_metrics_are_summed_across_worker_processes(tmp_path: Path) -> None:
    script = tmp_path / "aggregate.py"
    script.write_text(AGGREGATE)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "metrics")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(result.stdout)
        for s in family.samples
    }
    assert value(samples, "ossdoc_requests_total", operation="GetObject", status="200") == 5
    # The live gauge counts the process not marked dead only.
    assert value(samples, "ossdoc_active_streams") == 1


def test_two_workers_report_the_same_totals(tmp_path: Path) -> None:
    with running(tmp_path / "data", workers="2") as server:
        bucket_name = make_bucket(server)
        auth = oss2.Auth(server.access_key_id, server.access_key_secret)
        for n in range(20):
            # A new connection each time, so that both workers take some.
            oss2.Bucket(auth, server.endpoint, bucket_name, session=oss2.Session()).put_object(f"k{n}", b"x")
        scrapes = []
        for _ in range(6):  # new connections: whichever worker answers, it counts every worker's requests
            with httpx.Client() as fresh:
                reply = fresh.get(f"{server.endpoint}/-/metrics")
            scrapes.append(
                sum(
                    s.value
                    for family in text_string_to_metric_families(reply.text)
                    for s in family.samples
                    if s.name == "ossdoc_requests_total" and s.labels.get("operation") == "PutObject"
                )
            )
        assert scrapes == [20.0] * 6
