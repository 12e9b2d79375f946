"""Document-processing overhead: ossdoc (SSE and JSON) against llama-cpp-python called directly.

Same model file, threads, prompt (ossdoc's own doc/continue prompt) and token budget; the runs
alternate so machine noise hits both sides. Prints decode tokens/s and time to first token/event,
their ratios, and the server CPU spent per SSE event (measured on the fake backend, so it is the
wire layer's cost alone). Targets: >= 0.97 of raw decode throughput, <= 10 ms added to the first token.

With --speculative, instead: decode tokens/s of LocalLlama with speculative decoding against plain
decoding (the same loaded model, alternating, same seed so both write the same tokens) on doc/polish
and doc/translate (into Japanese) of a 2,000-character English text, the ratio per operation and the
drafts' acceptance. Targets: polish >= 1.5x, translate >= 1.0x (never below 0.97x).

  .venv/bin/python benchmarks/doc_ops.py [--preset qwen2.5-coder-0.5b] [--rounds 3] [--tokens 200]
  .venv/bin/python benchmarks/doc_ops.py --speculative [--preset P] [--rounds 5] [--tokens 300]
  .venv/bin/python benchmarks/doc_ops.py --speculative --greedy ...

--greedy: the same at temperature 0, where every decode step is a batch of 2 or 3 tokens so that the
text is plain decoding's byte for byte; a third column gives plain decoding in one-token steps (the
fastest kernel, not exact), whose ratio to the padded plain steps is the cost of exactness.

--first-event: time to the first text, in-process, for several operations and languages: ossdoc's
first Progress (DocumentService.start: cache, token budgets, preamble cleaner, language guard) against
the model (LocalLlama.generate with the very messages and sampling the service last sent it, recorded
on their way, seed included, so the same tokens) timed until it has written the raw text that first
event was decided on; both with the prompt in the
model's cache, each stream closed outside the time (an open one would keep the model busy for the
next), taking turns, median of --rounds; the difference is what the service layer adds before the
first SSE event.

--first-event --served: the same through an HTTP worker and the model service, as `ossdoc serve` runs
them: a real signed SSE request (the client made before the clock starts) to the worker's app under
uvicorn, whose model is a model-service process on a Unix socket, timed to the first `data:` line;
against the model (a LocalLlama of its own in this process, idle while the server side runs) replaying
the messages and sampling the worker sent the model service, timed to the raw text that event was
decided on. Both sides seeded, prompts cached, taking turns. The worker's app runs in this process
(so its operations can be seeded); the client waits on its socket while it works.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import oss2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from doc_http import signed_headers  # noqa: E402
from ossdoc.backends.llm import Sampling  # noqa: E402
from ossdoc.models import resolve_model  # noqa: E402
from ossdoc.services.docs.operations import OPERATIONS  # noqa: E402
from ossdoc.services.docs.registry import Args, Operation  # noqa: E402
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
    # A client is made before the clock starts: making one (its TLS context) takes 20-60 ms, which
    # the direct side does not pay.
    with httpx.Client(timeout=600) as client:
        start = time.perf_counter()
        first = 0.0
        last_data = ""
        with client.stream("POST", f"{server.endpoint}{resource}", content=body, headers=headers) as response:
            for line in response.iter_lines():
                if line.startswith("data:") or (not stream and line):
                    first = first or time.perf_counter()
                    last_data = line.removeprefix("data:")
        end = time.perf_counter()
    tokens = int(last_data.split('"OutputTokens":')[1].split("}")[0])
    # In JSON mode the first byte is the whole reply: report it as time to the reply.
    return Run.of(start, first, end, tokens) if stream else Run(end - start, tokens, tokens / (end - start))


# 2,000 characters of plain English prose (written for this benchmark).
ESSAY = (
    "The harbour town of Westmere grew up around a single stone quay, built in 1784 by a merchant who "
    "wanted somewhere dry to land his cargoes of timber and salt. For most of the nineteenth century the "
    "quay was the only reason anyone came to Westmere at all. Fishing boats crowded its steps at dawn, "
    "and by noon the market behind it was full of buyers from the inland villages, who paid in coins, in "
    "wool and sometimes in promises. When the railway arrived in 1871, the town changed faster than its "
    "oldest residents could follow. A station was built on the hill, warehouses replaced the net sheds, "
    "and within ten years the population had doubled. Not everyone welcomed the newcomers. The parish "
    "records from that decade are full of complaints about noise, about rents and about the smell of the "
    "new tannery by the river. Yet the same records show that the school, which had taught thirty children "
    "in a single room, opened a second building and hired four more teachers. By the turn of the century "
    "Westmere had a library, a brass band and a weekly newspaper whose editor argued, every week, that the "
    "quay should be widened. It never was. The decline, when it came, was slow. Larger ships could not "
    "reach the harbour, and the railway company moved its freight yard to the city in 1932. The "
    "warehouses emptied one by one, and many were later turned into flats or shops. Today the quay is "
    "used mostly by pleasure boats and by the small ferry that crosses to the island twice a day in "
    "summer. Visitors come for the seafood, the walks along the cliffs and the museum in the old customs "
    "house, which tells the town's story through photographs, ledgers and the tools of its trades. The "
    "museum's most popular exhibit is a model of the harbour as it looked in 1900, complete with tiny "
    "barrels on the quay and a train waiting at the station on the hill above. Children press their faces "
    "to the glass to find the signal box, the fish market and the brass band playing on the green."
)


def speculative(args: argparse.Namespace) -> None:
    """Speculative against plain decoding, the same LocalLlama alternating between the two."""
    import asyncio

    from ossdoc.backends.llm import Message
    from ossdoc.backends.llm.local import LocalLlama
    from ossdoc.backends.llm.step_costs import measure

    cases = {
        "polish": OPERATIONS["doc/polish"].prompt(ESSAY, Args({})),
        "translate en→ja": OPERATIONS["doc/translate"].prompt(ESSAY, Args({"language": "ja_JP"})),
    }
    samplings = {
        name: replace(OPERATIONS[f"doc/{name.split()[0]}"].sampling, max_tokens=args.tokens, seed=11)
        for name in cases
    }
    if args.greedy:
        samplings = {name: replace(s, temperature=0.0) for name, s in samplings.items()}

    async def run(llama: LocalLlama, messages: list[Message], sampling: Sampling) -> tuple[Run, str]:
        start = time.perf_counter()
        first, count, text = 0.0, 0, ""
        async for chunk in llama.generate(messages, sampling):
            count = chunk.output_tokens
            text += chunk.text
            first = first or time.perf_counter()
        return Run.of(start, first, time.perf_counter(), count), text

    with tempfile.TemporaryDirectory() as tmp:
        model = resolve_model(args.preset, Path(tmp) / "models")
        began = time.perf_counter()
        llama = LocalLlama(model, name=args.preset, context_size=4096, threads=args.threads)
        loaded = time.perf_counter() - began
        most = llama.draft_tokens
        began = time.perf_counter()  # the step costs again, as measured at load (pages now warm)
        costs = llama._thread.submit(measure, llama.llm, most).result()
        calibration = time.perf_counter() - began
        rows: dict[str, list[tuple[Run, Run]]] = {name: [] for name in cases}
        acceptance: dict[str, list[float]] = {name: [] for name in cases}
        verified: dict[str, list[int]] = {name: [] for name in cases}  # drafted tokens verified a run
        same: dict[str, bool] = dict.fromkeys(cases, True)
        single: dict[str, list[Run]] = {name: [] for name in cases}  # --greedy: one-token steps
        variants = [0, most, -1] if args.greedy else [0, most]
        for round_no in range(args.rounds):
            for name, messages in cases.items():
                pair: dict[int, tuple[Run, str]] = {}
                # Alternate the order, so a slow spell of the machine hits every side.
                for draft in variants if round_no % 2 == 0 else variants[::-1]:
                    llama.draft_tokens, llama.exact_greedy = max(draft, 0), draft >= 0
                    drafted, accepted = llama.drafted, llama.accepted
                    pair[draft] = asyncio.run(run(llama, messages, samplings[name]))
                    if draft > 0:
                        acceptance[name].append((llama.accepted - accepted) / max(llama.drafted - drafted, 1))
                        verified[name].append(llama.drafted - drafted)
                llama.exact_greedy = True
                rows[name].append((pair[0][0], pair[most][0]))
                if args.greedy:
                    single[name].append(pair[-1][0])
                same[name] = same[name] and pair[0][1] == pair[most][1]
        asyncio.run(llama.close())
    print(
        f"preset {args.preset}, {args.threads} threads, up to {args.tokens} tokens, {args.rounds} rounds, "
        f"drafts of up to {most} tokens (prompt lookup)"
    )
    print(
        f"{'operation':<18}{'plain tok/s':>12}{'spec tok/s':>12}{'ratio':>8}{'ratio min-max':>16}"
        f"{'accepted':>10}{'verified':>10}{'tokens':>8}  same text"
    )
    for name, pairs in rows.items():
        ratios = [fast.decode / plain.decode for plain, fast in pairs]
        print(
            f"{name:<18}{statistics.median(p.decode for p, _ in pairs):>12.1f}"
            f"{statistics.median(f.decode for _, f in pairs):>12.1f}{statistics.median(ratios):>8.2f}"
            f"{min(ratios):>9.2f}-{max(ratios):<6.2f}{statistics.median(acceptance[name]):>10.0%}"
            f"{statistics.median(verified[name]):>10}"
            f"{pairs[0][0].tokens:>8}  {same[name]}"
        )
    print("targets: polish >= 1.5x, translate >= 1.0x; ratio = median of per-round ratios")
    print(
        f"load {loaded:.2f} s, of which measuring the step costs about {calibration:.2f} s; costs by "
        "batch size, in one-token steps: at load "
        + " ".join(f"{k + 1}:{c:.2f}" for k, c in enumerate(llama.step_costs))
        + ", measured again "
        + " ".join(f"{k + 1}:{c:.2f}" for k, c in enumerate(costs))
    )
    for name, runs in single.items():
        if runs:
            cost = [plain.decode / one.decode for (plain, _), one in zip(rows[name], runs, strict=True)]
            gain = [fast.decode / one.decode for (_, fast), one in zip(rows[name], runs, strict=True)]
            print(
                f"{name}: plain in one-token steps {statistics.median(r.decode for r in runs):.1f} tok/s; "
                f"padded plain / one-token {statistics.median(cost):.2f} ({min(cost):.2f}-{max(cost):.2f}), "
                f"speculative / one-token {statistics.median(gain):.2f}"
            )


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


def wait_ready(server: RunningServer, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while httpx.get(f"{server.endpoint}/-/readyz", timeout=10).status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("ossdoc did not become ready")
        time.sleep(0.2)


def make_bucket(server: RunningServer) -> str:
    auth = oss2.Auth(server.access_key_id, server.access_key_secret)
    oss2.Bucket(auth, server.endpoint, "bench").create_bucket()
    return "bench"


FIRST_CASES = (
    ("doc/continue", TEXT, {}),
    ("doc/polish", TEXT, {}),
    ("doc/translate", TEXT, {"language": "zh_CN"}),
    ("doc/translate", TEXT, {"language": "ja_JP"}),
    ("doc/translate", TEXT, {"language": "fr_FR"}),
    ("doc/translate", "老灯塔看守人最后一次爬上楼梯。四十年来，他一直让灯光亮着。", {"language": "en_US"}),
)


SEED = 7  # both sides sample the same tokens


def seeded(name: str) -> Operation:
    """The operation ``name`` sampling with SEED, so that both sides write the same tokens."""
    base = OPERATIONS[name]
    return replace(base, sampling=replace(base.sampling, seed=SEED))


async def service_first(docs: object, operation: Operation, text: str, args: Args) -> tuple[float, str, int]:
    """Seconds to ossdoc's first Progress (DocumentService.start), the raw model text it was decided
    on (the cleaner and the language guard wait for the first complete word), and the language
    guard's restarts before it (their time is ossdoc's: the model side replays the last try only)."""
    start = time.perf_counter()
    generation = await docs.start(operation, text, args)  # type: ignore[attr-defined]
    try:
        step = await generation.__anext__()
        seconds = time.perf_counter() - start
    finally:
        await generation.aclose()  # the model stops (<= 1 token), outside the time
    return seconds, step.text if step.resume is None else step.resume.raw, step.restarts


class Recorder:
    """The model as the service sees it, remembering the last messages and sampling it was sent
    (the operation's prompt as the service completes it: length budget, steer, prefill)."""

    def __init__(self, llm: object) -> None:
        self.llm = llm
        self.last: tuple[Any, Any] | None = None

    def generate(self, messages: Any, sampling: Any) -> Any:
        self.last = (messages, sampling)
        return self.llm.generate(messages, sampling)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.llm, name)


async def model_first(recorder: Recorder, raw: str) -> float:
    """Seconds until the model itself (LocalLlama.generate, with what the service last sent it) has
    written ``raw``: the text ossdoc's first event was decided on."""
    from contextlib import aclosing

    assert recorder.last is not None
    messages, sampling = recorder.last
    start = time.perf_counter()
    written = ""
    async with aclosing(recorder.llm.generate(messages, sampling)) as chunks:  # type: ignore[attr-defined]
        async for chunk in chunks:
            written += chunk.text
            if len(written) >= len(raw) or chunk.finish_reason is not None:
                break
        seconds = time.perf_counter() - start
    if not written.startswith(raw) and not raw.startswith(written):
        print(f"  (not the same text: {written!r} against {raw!r})")
    return seconds


async def first_event(preset: str, threads: int, rounds: int) -> None:
    import asyncio

    from ossdoc.backends.llm.local import LocalLlama
    from ossdoc.config import Settings
    from ossdoc.services.docs import DocumentService

    with tempfile.TemporaryDirectory() as tmp:
        model = resolve_model(preset, Path(tmp) / "models")
        llm = await asyncio.to_thread(LocalLlama, model, name=preset, context_size=4096, threads=threads)
    recorder = Recorder(llm)
    docs = DocumentService(recorder, Settings(cache_bytes=0, max_output_tokens=16))  # type: ignore[arg-type]
    times: dict[int, tuple[list[float], list[float]]] = {n: ([], []) for n in range(len(FIRST_CASES))}
    restarts = [0] * len(FIRST_CASES)
    try:
        for round_no in range(rounds):
            for n, (name, text, values) in enumerate(FIRST_CASES):
                # A fixed seed: both sides write the same tokens, and the model side is timed to the
                # text ossdoc's first event needed, not to its first token.
                operation = seeded(name)
                args = Args(values)
                # Both sides find the prompt in the model's cache (a warm-up run puts it there), and
                # take turns going first: the difference is the service layer, not prompt evaluation.
                _, raw, _ = await service_first(docs, operation, text, args)
                if round_no % 2:
                    seconds, raw, restarted = await service_first(docs, operation, text, args)
                    times[n][1].append(seconds)
                    times[n][0].append(await model_first(recorder, raw))
                else:
                    times[n][0].append(await model_first(recorder, raw))
                    seconds, raw, restarted = await service_first(docs, operation, text, args)
                    times[n][1].append(seconds)
                restarts[n] += restarted
    finally:
        await llm.close()
    title = f"first text, {preset}, {threads} threads, median of {rounds} (ms)"
    print_first(title, times, "restarts", restarts)


def print_first(
    title: str, times: dict[int, tuple[list[float], list[float]]], column: str, counts: list[int]
) -> None:
    """The first-event table: per case the model's and ossdoc's median ms, the difference, a count."""
    print(title)
    print(f"{'operation':<28}{'model':>8}{'ossdoc':>8}{'added':>8}{column:>10}")
    added = []
    for n, (name, _, values) in enumerate(FIRST_CASES):
        model_ms, ossdoc_ms = (statistics.median(t) * 1000 for t in times[n])
        added.append(ossdoc_ms - model_ms)
        label = name + "".join(f",{v}" for v in values.values())
        print(f"{label:<28}{model_ms:>8.0f}{ossdoc_ms:>8.0f}{ossdoc_ms - model_ms:>8.1f}{counts[n]:>10}")
    print(f"median added {statistics.median(added):.1f} ms (target <= 10)")


# The model service of `ossdoc serve`, alone in a process: model path, threads, socket.
MODEL_SERVICE = (
    "import sys; from pathlib import Path; from ossdoc.config import Settings; "
    "from ossdoc.runtime.serve import run_model_service; "
    "run_model_service(Settings(model=sys.argv[1], threads=int(sys.argv[2]), context_size=4096, "
    "log_level='warning'), Path(sys.argv[1]), Path(sys.argv[3]))"
)


def served_first_event(preset: str, threads: int, rounds: int) -> None:
    """--first-event --served: the first SSE event through a worker's app and the model service."""
    import asyncio
    import subprocess
    import threading
    from types import SimpleNamespace

    import uvicorn

    from ossdoc import server as server_module
    from ossdoc.backends.llm.base import ModelInfo
    from ossdoc.backends.llm.local import LocalLlama
    from ossdoc.config import Settings
    from ossdoc.keys import AccessKey, KeyRing
    from ossdoc.runtime.serve import ModelEndpoint
    from ossdoc.services.docs import DocumentService
    from ossdoc.wire.protocol import OSSHttpToolsProtocol
    from ossdoc_server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, free_port

    operations = {name: seeded(name) for name, _, _ in FIRST_CASES}
    OPERATIONS.operations.update(operations)  # the worker's app looks its operations up there
    served: list[Recorder] = []
    make_client = server_module.model_client

    def recorded_client(endpoint: Any, settings: Any) -> Any:
        served.append(Recorder(make_client(endpoint, settings)))
        return served[-1]

    server_module.model_client = recorded_client  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = resolve_model(preset, work / "models")
        socket = work / "model.sock"
        service = subprocess.Popen(
            [sys.executable, "-c", MODEL_SERVICE, str(model), str(threads), str(socket)]
        )
        # The same settings on both sides: the same budgets, so the same messages.
        settings = Settings(
            data=work / "data",
            model=str(model),
            threads=threads,
            context_size=4096,
            cache_bytes=0,
            max_output_tokens=16,
            log_level="warning",
        )
        keys = KeyRing.fixed([AccessKey(ACCESS_KEY_ID, ACCESS_KEY_SECRET)])
        endpoint = ModelEndpoint(socket, ModelInfo(preset, 4096, {}))
        port = free_port()
        config = uvicorn.Config(
            server_module.create_app(settings, keys, model=endpoint),
            host="127.0.0.1",
            port=port,
            loop="uvloop",
            http=OSSHttpToolsProtocol,
            lifespan="on",
            server_header=False,
            date_header=False,
            access_log=False,
            log_config=None,
        )
        worker = uvicorn.Server(config)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        llm = LocalLlama(model, name=preset, context_size=4096, threads=threads)
        direct = Recorder(llm)
        docs = DocumentService(direct, replace(settings, llm="local"))  # type: ignore[arg-type]
        try:
            while not worker.started:
                time.sleep(0.05)
            target = SimpleNamespace(
                endpoint=f"http://127.0.0.1:{port}",
                access_key_id=ACCESS_KEY_ID,
                access_key_secret=ACCESS_KEY_SECRET,
            )
            bucket = make_bucket(target)  # type: ignore[arg-type]
            times, unlike = served_rounds(target, bucket, docs, direct, served, operations, rounds)
        finally:
            asyncio.run(llm.close())
            worker.should_exit = True
            thread.join(30)
            service.terminate()
            service.wait(30)
    title = f"first SSE event through a worker and the model service, {preset}, {threads} threads"
    print_first(f"{title}, median of {rounds} (ms)", times, "unlike", unlike)


def served_rounds(
    target: Any,
    bucket: str,
    docs: Any,
    direct: Recorder,
    served: list[Recorder],
    operations: dict[str, Operation],
    rounds: int,
) -> tuple[dict[int, tuple[list[float], list[float]]], list[int]]:
    """Per case: (model seconds, served seconds) of each round, and how many rounds sent the two
    sides' models different messages or sampling (not like for like)."""
    import asyncio

    times: dict[int, tuple[list[float], list[float]]] = {n: ([], []) for n in range(len(FIRST_CASES))}
    unlike = [0] * len(FIRST_CASES)
    with httpx.Client(timeout=600) as client:
        for round_no in range(rounds):
            for n, (name, text, values) in enumerate(FIRST_CASES):
                # Each side's model gets the prompt into its cache first; the direct side's run
                # also gives the raw text ossdoc's first event is decided on.
                sse_first(client, target, bucket, name, text, values)
                _, raw, _ = asyncio.run(service_first(docs, operations[name], text, Args(values)))
                for side in (0, 1) if round_no % 2 == 0 else (1, 0):  # taking turns
                    if side == 0:
                        times[n][0].append(asyncio.run(model_first(direct, raw)))
                    else:
                        times[n][1].append(sse_first(client, target, bucket, name, text, values))
                if served[0].last != direct.last:
                    unlike[n] += 1
    return times, unlike


def sse_first(
    client: httpx.Client, target: Any, bucket: str, name: str, text: str, values: dict[str, str]
) -> float:
    """Seconds to the first SSE event of a signed request; the stream is closed outside the time
    (the worker then cancels the generation)."""
    content = base64.urlsafe_b64encode(text.encode()).decode()
    resource = f"/{bucket}/first.txt?x-oss-process"
    extra = "".join(f",{key}_{value}" for key, value in values.items())
    body = f"x-oss-process={name}{extra},content_{content},format_event-stream"
    headers = signed_headers(target, "POST", resource)
    start = time.perf_counter()
    with client.stream("POST", f"{target.endpoint}{resource}", content=body, headers=headers) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                return time.perf_counter() - start
    raise RuntimeError(f"no event from {name}: {response.status_code}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="qwen2.5-coder-0.5b")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--first-event", action="store_true", help="only the first-text comparison")
    parser.add_argument("--served", action="store_true", help="with --first-event: through a worker")
    parser.add_argument("--speculative", action="store_true", help="speculative against plain decoding")
    parser.add_argument("--greedy", action="store_true", help="with --speculative: at temperature 0")
    args = parser.parse_args()
    if args.speculative:
        speculative(args)
        return
    if args.first_event and args.served:
        served_first_event(args.preset, args.threads, args.rounds)
        return
    if args.first_event:
        import asyncio

        asyncio.run(first_event(args.preset, args.threads, args.rounds))
        return
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
                wait_ready(server)  # the model service loads beside the workers: not part of a request
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
