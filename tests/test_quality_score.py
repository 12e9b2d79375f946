"""benchmarks/quality_score.py, the project's own scorer: sane on references and sources, and the same
figures as the shared reference scorer (../shared/quality/score.py) on the same outputs."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import quality_score  # noqa: E402

# Beside the repository's clone (as CI lays it out), or where OSSDOC_SHARED_QUALITY says.
SHARED = Path(os.environ.get("OSSDOC_SHARED_QUALITY") or ROOT.parent / "shared" / "quality")
CASES = quality_score.load_jsonl(quality_score.DATA)


def outputs_of(field: str) -> dict[str, str]:
    return {c["id"]: c[field] for c in CASES}


def noisy() -> dict[str, str]:
    """Outputs of every kind a model writes: partly right, shuffled, truncated, empty, wrong script,
    a preamble, the source echoed."""
    rng = random.Random(5)
    out = {}
    for n, c in enumerate(CASES):
        ref, src = c["reference"], c["source"]
        words = ref.split() if " " in ref else list(ref)
        rng.shuffle(words)
        joiner = " " if " " in ref else ""
        out[c["id"]] = [
            ref[: len(ref) // 2],
            joiner.join(words),
            "",
            src,
            "Here is the translation: " + ref,
            ref.upper(),
            f"{ref} {ref}",
        ][n % 7]
    return out


def test_references_score_100_and_sources_the_floor() -> None:
    report = quality_score.score(CASES, outputs_of("reference"))
    assert {r["chrF"] for r in report["translate"].values()} == {100.0}
    assert report["summarize"]["en"]["rougeL"] == 100.0
    assert all(r["right_script_pct"] == 100.0 for r in report["translate"].values())
    sources = quality_score.score(CASES, outputs_of("source"))
    assert all(r["source_echo_pct"] == 100.0 for r in sources["translate"].values())
    assert sources["translate"]["en-ja"]["right_script_pct"] == 0.0


def test_cjk_characters_are_rouge_tokens() -> None:
    assert quality_score.CJKTokenizer().tokenize("BBC は協議 Été 2019") == [
        "bbc",
        "は",
        "協",
        "議",
        "été",
        "2019",
    ]
    assert quality_score.rouge("今天天气很好", ["今天天气不好"])["rouge1"] == pytest.approx(5 / 6)


@pytest.mark.skipif(not (SHARED / "score.py").exists(), reason="no ../shared/quality beside the repository")
@pytest.mark.parametrize("kind", ["reference", "source", "noisy"])
def test_same_figures_as_the_shared_scorer(kind: str, tmp_path: Path) -> None:
    outputs = noisy() if kind == "noisy" else outputs_of(kind)
    path = tmp_path / "outputs.jsonl"
    path.write_text(
        "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in outputs.items())
    )
    shared_json = tmp_path / "shared.json"
    subprocess.run(
        [
            sys.executable,
            str(SHARED / "score.py"),
            str(path),
            "--data",
            str(quality_score.DATA),
            "--json",
            str(shared_json),
        ],
        check=True,
        capture_output=True,
        env={"OSSDOC_QUALITY_REEXEC": "1", "PATH": "/usr/bin:/bin"},
    )
    shared: dict[str, Any] = json.loads(shared_json.read_text())
    ours = quality_score.score(CASES, outputs)
    assert json.loads(json.dumps(ours)) == shared
