"""Output quality of doc/translate and doc/summarize on the public held-out set in
../shared/quality (NTREX-128 translations, SummEval summaries), through a running ossdoc.

Sends every case as a real signed x-oss-process request (JSON mode), writes the outputs as JSONL
and scores them with ../shared/quality/score.py (chrF/BLEU per direction, ROUGE per language,
script/language/instruction-echo/source-echo rates). A benchmark for tuning prompts and decoding,
never a pass/fail test.

  .venv/bin/python benchmarks/quality.py [--preset qwen2.5-coder-0.5b] [--limit 10] [--out out.jsonl]
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import oss2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from doc_http import post  # noqa: E402
from ossdoc_server import RunningServer, running  # noqa: E402

QUALITY = ROOT.parent / "shared" / "quality"


def process(server: RunningServer, bucket: str, case: dict[str, object]) -> str:
    content = base64.urlsafe_b64encode(str(case["source"]).encode()).decode()
    params = case["params"]
    assert isinstance(params, dict)
    action = f"doc/{case['op']}" + "".join(f",{k}_{v}" for k, v in params.items())
    reply = post(server, bucket, f"x-oss-process={action},content_{content}", key="quality.txt", timeout=600)
    if reply.status_code != 200:
        return ""
    text: str = reply.json()["Output"]["Text"]
    return text


def select(cases: list[dict[str, object]], limit: int | None) -> list[dict[str, object]]:
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="qwen2.5-coder-0.5b", help="model preset or GGUF path")
    parser.add_argument("--limit", type=int, help="at most this many cases per direction/language")
    parser.add_argument("--out", type=Path, help="where to keep the outputs (JSONL)")
    args = parser.parse_args()
    cases = select(
        [json.loads(line) for line in (QUALITY / "data.jsonl").read_text().splitlines()], args.limit
    )
    out = args.out or Path(tempfile.mkstemp(suffix=".jsonl")[1])
    with (
        tempfile.TemporaryDirectory() as tmp,
        running(Path(tmp) / "data", llm="local", model=args.preset) as server,
    ):
        bucket = "quality"
        oss2.Bucket(
            oss2.Auth(server.access_key_id, server.access_key_secret), server.endpoint, bucket
        ).create_bucket()
        start = time.perf_counter()
        # Two clients keep the model's queue fed; the model itself runs one request at a time.
        with ThreadPoolExecutor(2) as pool:
            texts = list(pool.map(lambda case: process(server, bucket, case), cases))
        elapsed = time.perf_counter() - start
    with out.open("w") as fh:
        for case, text in zip(cases, texts, strict=True):
            fh.write(json.dumps({"id": case["id"], "text": text}, ensure_ascii=False) + "\n")
    print(f"preset {args.preset}: {len(cases)} cases in {elapsed:.0f} s; outputs in {out}")
    data = out.with_suffix(".cases.jsonl")  # the cases run, so a --limit subset scores only itself
    data.write_text("".join(json.dumps(case, ensure_ascii=False) + "\n" for case in cases))
    subprocess.run([sys.executable, str(QUALITY / "score.py"), str(out), "--data", str(data)], check=False)


if __name__ == "__main__":
    main()
