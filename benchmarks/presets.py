"""What each model preset costs to run: decode tokens/s and time to first token for a 1,000-character
input, idle RSS with the model loaded, install size. The other half of the preset table, the quality
figures, comes from ``benchmarks/quality.py --preset P``.

Each measurement runs in a fresh process (so RSS is that preset's alone), the presets take turns in
every round (so a slow spell of the shared machine hits them all), and the figures are medians over
the rounds with their spread; ratios are against the first preset named, within each round.

  .venv/bin/python benchmarks/presets.py [--presets qwen2.5-coder-0.5b,qwen2.5-coder-1.5b,smollm2-135m]
      [--rounds 3] [--tokens 128] [--threads 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from ossdoc.backends.llm import Sampling
from ossdoc.models import PRESETS, resolve_model
from ossdoc.services.docs.operations import OPERATIONS
from ossdoc.services.docs.registry import Args

# 1,000 characters of English prose: the input whose first token is timed.
TEXT = (
    "The harbour town of Westmere grew up around a single stone quay, built in 1784 by a merchant who "
    "wanted somewhere dry to land his cargoes of timber and salt. For most of the nineteenth century the "
    "quay was the only reason anyone came to Westmere at all. Fishing boats crowded its steps at dawn, "
    "and by noon the market behind it was full of buyers from the inland villages, who paid in coins, in "
    "wool and sometimes in promises. When the railway arrived in 1871, the town changed faster than its "
    "oldest residents could follow. A station was built on the hill, warehouses replaced the net sheds, "
    "and within ten years the population had doubled. Not everyone welcomed the newcomers. The parish "
    "records from that decade are full of complaints about noise, about rents and about the smell of the "
    "new tannery by the river. Yet the same records show that the school, which had taught thirty "
    "children in a single room, opened a second building and hired four more teachers in a single year."
)


def measure(preset: str, tokens: int, threads: int, cache: Path) -> dict[str, float]:
    """In this process: load the preset, translate TEXT into Chinese (plain decoding: a translation
    gains little from drafts), time the first token and the decode rate; then the idle RSS."""
    from ossdoc.backends.llm.local import LocalLlama

    path = resolve_model(preset, cache)
    llama = LocalLlama(path, name=preset, context_size=4096, threads=threads, draft_tokens=0)
    messages = OPERATIONS["doc/translate"].prompt(TEXT, Args({"language": "zh_CN"}))
    sampling = Sampling(max_tokens=tokens, temperature=0)

    async def run() -> tuple[float, float, int]:
        start = time.perf_counter()
        first, count = 0.0, 0
        async for chunk in llama.generate(messages, sampling):
            first = first or time.perf_counter()
            count = chunk.output_tokens
        end = time.perf_counter()
        return first - start, (count - 1) / max(end - first, 1e-9), count

    first, decode, count = asyncio.run(run())
    rss = int(
        next(
            line.split()[1] for line in Path("/proc/self/status").read_text().splitlines() if "VmRSS" in line
        )
    )
    return {
        "first": first,
        "decode": decode,
        "tokens": count,
        "prompt": len(llama.prompt_tokens(messages)),
        "rss_mb": rss / 1024,
    }


def install_mb(preset: str) -> float:
    """Bytes of the packages that ship the preset's weights (as installed)."""
    total = 0
    for package, _ in PRESETS[preset].parts:
        dist = metadata.distribution(package_dist(package))
        total += sum((f.size or 0) for f in dist.files or ())
    return total / 1e6


def package_dist(package: str) -> str:
    return metadata.packages_distributions()[package][0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", default="qwen2.5-coder-0.5b,qwen2.5-coder-1.5b,smollm2-135m")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.tokens, args.threads, args.cache)))
        return
    presets = args.presets.split(",")
    results: dict[str, list[dict[str, float]]] = {p: [] for p in presets}
    with tempfile.TemporaryDirectory() as tmp:
        for round_no in range(args.rounds):
            order = presets if round_no % 2 == 0 else presets[::-1]
            for preset in order:
                command = [sys.executable, __file__, "--child", preset, "--cache", f"{tmp}/models"]
                command += ["--tokens", str(args.tokens), "--threads", str(args.threads)]
                out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                results[preset].append(json.loads(out.strip().splitlines()[-1]))
    base = presets[0]
    print(
        f"{args.threads} threads, doc/translate en→zh of {len(TEXT)} characters, {args.tokens} tokens, "
        f"greedy, plain decoding; median (min-max) of {args.rounds} rounds; x = per-round ratio to {base}"
    )
    head = f"{'preset':<22}{'decode tok/s':>24}{'first token s':>24}{'prompt':>8}"
    print(head + f"{'idle RSS MB':>13}{'install MB':>12}")
    for preset, runs in results.items():

        def cell(field: str, runs: list[dict[str, float]] = runs, preset: str = preset) -> str:
            values = [r[field] for r in runs]
            ratio = statistics.median(r[field] / b[field] for r, b in zip(runs, results[base], strict=True))
            spread = f"{min(values):.1f}-{max(values):.1f}"
            return f"  {statistics.median(values):.1f} ({spread}) x{ratio:.2f}"

        rss = statistics.median(r["rss_mb"] for r in runs)
        print(
            f"{preset:<22}{cell('decode'):>24}{cell('first'):>24}{int(runs[0]['prompt']):>8}"
            f"{rss:>13.0f}{install_mb(preset):>12.0f}"
        )


if __name__ == "__main__":
    main()
