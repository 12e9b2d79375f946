"""Output quality of doc/translate and doc/summarize on the public cases in
benchmarks/quality_data (NTREX-128 translations, SummEval summaries), through a running ossdoc.

Sends every case as a real signed x-oss-process request (JSON mode), writes the outputs as JSONL
and scores them with benchmarks/quality_score.py (chrF/BLEU per direction, ROUGE per language,
script/language/instruction-echo/source-echo rates), plus the language guard's restarts and the
replies cut at the output limit. A benchmark for tuning prompts and decoding, never a pass/fail test.

  .venv/bin/python benchmarks/quality.py [--preset qwen2.5-coder-0.5b] [--limit 10] [--out out.jsonl]
                                         [--only tr-enja,tr-enzh]
  .venv/bin/python benchmarks/quality.py --score out.jsonl     # score kept outputs again
  .venv/bin/python benchmarks/quality.py --naive [--preset P]  # the baseline: same weights, no ossdoc

--naive is the floor ossdoc's prompts must beat: the same GGUF driven directly through llama-cpp-python,
a one-line user message ("Translate the following text into Japanese:" and the text) in the model's
own chat template, greedy, no repeat penalty, the same output limit as ossdoc (2,048 tokens).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import oss2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import quality_score  # noqa: E402

from doc_http import post  # noqa: E402
from ossdoc_server import RunningServer, running  # noqa: E402

_WRITING = threading.Lock()


def process(server: RunningServer, bucket: str, case: dict[str, Any], out: Path) -> dict[str, Any]:
    content = base64.urlsafe_b64encode(str(case["source"]).encode()).decode()
    action = f"doc/{case['op']}" + "".join(f",{k}_{v}" for k, v in case["params"].items())
    start = time.perf_counter()
    row: dict[str, Any] = {"id": case["id"], "text": ""}
    try:
        reply = post(server, bucket, f"x-oss-process={action},content_{content}", key="q.txt", timeout=900)
    except httpx.HTTPError as exc:  # scored as empty; the other cases go on
        row["error"] = repr(exc)
    else:
        if reply.status_code == 200:
            body = reply.json()
            row["text"] = body["Output"]["Text"]
            row["restarts"] = body["Usage"].get("Restarts", 0)
            row["truncated"] = bool(body.get("Truncated", False))
        else:
            row["error"] = f"HTTP {reply.status_code}"
    row["seconds"] = round(time.perf_counter() - start, 2)
    with _WRITING, out.open("a") as fh:  # kept as they come: a long run stopped early keeps its cases
        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return row


def select(cases: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    if limit is None:
        return cases
    taken: dict[str, int] = {}
    chosen = []
    for case in cases:
        group = f"{case['op']}-{case.get('tgt_lang', case['src_lang'])}"
        if taken.get(group, 0) < limit:
            taken[group] = taken.get(group, 0) + 1
            chosen.append(case)
    return chosen


def interleave(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cases of every direction/language in turn: the first of each, then the second..."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for case in cases:
        groups.setdefault(case["id"].rsplit("-", 1)[0], []).append(case)
    rounds = itertools.zip_longest(*groups.values())
    return [case for round_ in rounds for case in round_ if case is not None]


# The naive baseline names languages plainly, as a first-time user would.
NAIVE_LANGUAGES = {"en_US": "English", "zh_CN": "Chinese", "ja_JP": "Japanese", "fr_FR": "French"}
NAIVE_MAX_TOKENS = 2048  # ossdoc's max_output_tokens default


def naive_prompt(case: dict[str, Any]) -> str:
    if case["op"] == "translate":
        language = NAIVE_LANGUAGES[case["params"]["language"]]
        return f"Translate the following text into {language}:\n\n{case['source']}"
    return f"Summarize the following text:\n\n{case['source']}"


def run_naive(preset: str, cases: list[dict[str, Any]], out: Path, threads: int) -> list[dict[str, Any]]:
    import llama_cpp

    from ossdoc.models import resolve_model

    path = resolve_model(preset, Path(tempfile.gettempdir()) / "ossdoc-quality-models")
    llm = llama_cpp.Llama(
        model_path=str(path), n_ctx=8192, n_threads=threads, n_threads_batch=threads, verbose=False
    )
    rows = []
    for case in cases:
        start = time.perf_counter()
        reply: Any = llm.create_chat_completion(
            [{"role": "user", "content": naive_prompt(case)}],
            temperature=0.0,
            repeat_penalty=1.0,
            max_tokens=NAIVE_MAX_TOKENS,
        )
        choice = reply["choices"][0]
        row = {
            "id": case["id"],
            "text": str(choice["message"]["content"] or "").strip(),
            "truncated": choice["finish_reason"] == "length",
            "seconds": round(time.perf_counter() - start, 2),
        }
        with out.open("a") as fh:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        rows.append(row)
    return rows


def run(preset: str, cases: list[dict[str, Any]], out: Path, threads: int) -> list[dict[str, Any]]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        running(Path(tmp) / "data", llm="local", model=preset, threads=str(threads)) as server,
    ):
        bucket = "quality"
        oss2.Bucket(
            oss2.Auth(server.access_key_id, server.access_key_secret), server.endpoint, bucket
        ).create_bucket()
        # Two clients keep the model's queue fed; the model itself runs one request at a time.
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(lambda case: process(server, bucket, case, out), cases))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="qwen2.5-coder-0.5b", help="model preset or GGUF path")
    parser.add_argument("--limit", type=int, help="at most this many cases per direction/language")
    parser.add_argument("--out", type=Path, help="where to keep the outputs (JSONL)")
    parser.add_argument("--score", type=Path, help="score these kept outputs instead of running")
    parser.add_argument("--naive", action="store_true", help="the same weights without ossdoc (see above)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="model threads")
    parser.add_argument("--only", help="cases whose id starts with one of these: tr-enja,tr-enzh")
    parser.add_argument(
        "--interleave", action="store_true", help="each direction's cases in turn (a stopped run covers all)"
    )
    args = parser.parse_args()
    cases = select(quality_score.load_jsonl(quality_score.DATA), args.limit)
    if args.only:
        cases = [case for case in cases if case["id"].startswith(tuple(args.only.split(",")))]
    if args.interleave:
        cases = interleave(cases)
    if args.score:
        rows = quality_score.load_jsonl(args.score)
        ids = {row["id"] for row in rows}
        cases = [case for case in cases if case["id"] in ids]
    else:
        out = args.out or Path(tempfile.mkstemp(suffix=".jsonl")[1])
        out.write_text("")
        start = time.perf_counter()
        runner = run_naive if args.naive else run
        rows = runner(args.preset, cases, out, args.threads)
        elapsed = time.perf_counter() - start
        mode = "naive" if args.naive else "ossdoc"
        print(f"{mode}, preset {args.preset}: {len(cases)} cases in {elapsed:.0f} s; outputs in {out}")
    report = quality_score.score(cases, {row["id"]: row["text"] for row in rows})
    print("\n".join(quality_score.report_lines(report, worst=3)))
    restarts = sum(row.get("restarts", 0) for row in rows)
    truncated = sum(bool(row.get("truncated")) for row in rows)
    print(f"language restarts {restarts}, replies cut at the output limit {truncated} (of {len(rows)})")
    print(quality_score.summary_line(report))


if __name__ == "__main__":
    main()
