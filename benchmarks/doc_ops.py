"""Document-processing overhead: ossdoc (SSE and JSON) against llama-cpp-python called directly.

Same model file, threads, prompt (ossdoc's own doc/continue prompt) and token budget; the runs
alternate so machine noise hits both sides. Prints decode tokens/s and time to first token/event,
their ratios, and the server CPU spent per SSE event (measured on the fake backend, so it is the
wire layer's cost alone). Targets: >= 0.97 of raw decode throughput, <= 10 ms added to the first token.

  .venv/bin/python benchmarks/doc_ops.py [--preset qwen2.5-coder-0.5b] [--rounds 3] [--tokens 200]
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import oss2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from doc_http import signed_headers  # noqa: E402
from ossdoc.models import resolve_model  # noqa: E402
from ossdoc.services.docs.operations import OPERATIONS  # noqa: E402
from ossdoc.services.docs.registry import Args  # noqa: E402
from ossdoc_server import RunningServer, running  # noqa: E402

TEXT = (
    "The old lighthouse keeper climbed the stairs one last time. For forty years he had kept the light "
    "burning, through storms and calm nights alike, and tomorrow the machines would take over."
)


@dataclass
class Run:
    first: float  # seconds to the first token / event carrying text
    tokens: int
    decode: float  # tokens per second after the first

    @classmethod
    def of(cls, start: float, first: float, end: float, tokens: int) -> Run:
        return cls(first - start, tokens, (tokens - 1) / max(end - first, 1e-9))


def direct(llm: object, messages: list[dict[str, str]], tokens: int) -> Run:
    start = time.perf_counter()
    first = 0.0
    count = 0
    stream = llm.create_chat_completion(  # type: ignore[attr-defined]
        messages=messages, stream=True, max_tokens=tokens, temperature=0.8, top_p=0.95, stop=["</text>"]
    )
    for chunk in stream:
        if chunk["choices"][0]["delta"].get("content"):
            count += 1
            first = first or time.perf_counter()
    return Run.of(start, first, time.perf_counter(), count)


def through_ossdoc(server: RunningServer, bucket: str, stream: bool) -> Run:
    content = base64.urlsafe_b64encode(TEXT.encode()).decode()
    resource = f"/{bucket}/bench.txt?x-oss-process"
    body = f"x-oss-process=doc/continue,content_{content}" + (",format_event-stream" if stream else "")
    headers = signed_headers(server, "POST", resource)
    start = time.perf_counter()
    first = 0.0
    last_data = ""
    with (
        httpx.Client(timeout=600) as client,
        client.stream("POST", f"{server.endpoint}{resource}", content=body, headers=headers) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("data:") or (not stream and line):
                first = first or time.perf_counter()
                last_data = line.removeprefix("data:")
    end = time.perf_counter()
    tokens = int(last_data.split('"OutputTokens":')[1].split("}")[0])
    # In JSON mode the first byte is the whole reply: report it as time to the reply.
    return Run.of(start, first, end, tokens) if stream else Run(end - start, tokens, tokens / (end - start))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_event(workdir: Path) -> tuple[float, int]:
    """Server CPU per SSE event with the fake backend (no model cost): 400 tokens paced at 20 ms, so
    the 50 ms coalescing sends an event every two or three tokens, as with a real model."""
    with running(workdir / "fake", llm="fake", fake_token_delay_ms="20") as server:
        bucket = make_bucket(server)
        text = " ".join(f"word{n}" for n in range(400))
        content = base64.urlsafe_b64encode(text.encode()).decode()
        resource = f"/{bucket}/cpu.txt?x-oss-process"
        # The supervisor and its workers: the request is served by one of the children.
        pids = [server.process.pid, *server.children()]
        before = sum(cpu_seconds(pid) for pid in pids)
        reply = httpx.post(
            f"{server.endpoint}{resource}",
            content=f"x-oss-process=doc/polish,content_{content},format_event-stream",
            headers=signed_headers(server, "POST", resource),
            timeout=600,
        )
        spent = sum(cpu_seconds(pid) for pid in pids) - before
        events = reply.text.count("\nevent: ")
        return spent / max(events, 1), events


def make_bucket(server: RunningServer) -> str:
    auth = oss2.Auth(server.access_key_id, server.access_key_secret)
    oss2.Bucket(auth, server.endpoint, "bench").create_bucket()
    return "bench"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="qwen2.5-coder-0.5b")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    from llama_cpp import Llama

    messages = [
        {"role": m.role, "content": m.content} for m in OPERATIONS["doc/continue"].prompt(TEXT, Args({}))
    ]
    results: dict[str, list[Run]] = {"direct": [], "sse": [], "json": []}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model = resolve_model(args.preset, workdir / "models")
        settings = {
            "llm": "local",
            "model": str(model),
            "max_output_tokens": str(args.tokens),
            "threads": str(args.threads),
            "context_size": "4096",
            "cache_bytes": "0",  # every run must reach the model
        }
        for round_no in range(args.rounds):
            llm = Llama(
                model_path=str(model),
                n_ctx=4096,
                n_threads=args.threads,
                n_threads_batch=args.threads,
                verbose=False,
            )
            results["direct"].append(direct(llm, messages, args.tokens))
            del llm
            with running(workdir / "ossdoc", **settings) as server:
                bucket = make_bucket(server) if round_no == 0 else "bench"
                results["sse"].append(through_ossdoc(server, bucket, stream=True))
                results["json"].append(through_ossdoc(server, bucket, stream=False))
        per_event, events = cpu_per_event(workdir)

    def med(name: str, field: str) -> float:
        return statistics.median(getattr(r, field) for r in results[name])

    raw_decode, raw_first = med("direct", "decode"), med("direct", "first")
    print(
        f"preset {args.preset}, {args.threads} threads, up to {args.tokens} tokens, median of {args.rounds}"
    )
    print(f"{'':<22}{'decode tok/s':>13}{'first (ms)':>12}{'ratio':>8}{'added ms':>10}")
    print(f"{'llama-cpp direct':<22}{raw_decode:>13.1f}{raw_first * 1000:>12.0f}")
    sse_decode, sse_first = med("sse", "decode"), med("sse", "first")
    print(
        f"{'ossdoc SSE':<22}{sse_decode:>13.1f}{sse_first * 1000:>12.0f}"
        f"{sse_decode / raw_decode:>8.3f}{(sse_first - raw_first) * 1000:>10.1f}   (>= 0.97, <= 10)"
    )
    json_rate, json_total = med("json", "decode"), med("json", "first")
    print(
        f"{'ossdoc JSON (whole)':<22}{json_rate:>13.1f}{json_total * 1000:>12.0f}  (time to the full reply)"
    )
    print(f"server CPU per SSE event (fake backend, {events} events): {per_event * 1e6:.0f} us")


if __name__ == "__main__":
    main()
