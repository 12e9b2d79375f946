"""Score translate and summarize outputs against benchmarks/quality_data/cases.jsonl.

translate, per direction: corpus chrF (sacrebleu defaults: character 6-grams, whitespace ignored, so
Chinese and Japanese need no tokenizer), corpus BLEU as a second opinion, and the shares of outputs in
the target script (script%) and language (lang%), empty, echoing an instruction or talk about the task
(instr%), or echoing the source (echo%). summarize, per source language: ROUGE-1/2/L F1 x100 (rouge-score,
no stemming, with a tokenizer that keeps Latin/digit words and makes every Han or kana character a token:
rouge-score's own tokenizer drops everything outside a-z0-9, Chinese, Japanese and accents included),
the best over a case's references, R-L@1 against the first reference only; ratio = output chars /
source chars; the same shares.

  .venv/bin/python benchmarks/quality_score.py OUTPUTS.jsonl      # {"id", "text"} per line
  .venv/bin/python benchmarks/quality_score.py --reference-baseline
  .venv/bin/python benchmarks/quality_score.py --dump references > r.jsonl   # scores 100 everywhere

The last line is a one-line summary; exit 0, 1 when a --min-* bar is missed, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from rouge_score import rouge_scorer
from sacrebleu.metrics.bleu import BLEU
from sacrebleu.metrics.chrf import CHRF

DATA = Path(__file__).resolve().parent / "quality_data" / "cases.jsonl"
BASELINE_SEED = "ossdoc-quality-baseline"
BLEU_TOKENIZER = {"zh": "zh", "ja": "char", "en": "13a", "fr": "13a"}
Case = dict[str, Any]

# ---- scripts and languages -------------------------------------------------------------------------

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
KANA = "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
# A Han or kana character is one unit, a run of Latin letters (a word) is one unit.
UNITS = re.compile(f"(?P<han>[{HAN}])|(?P<kana>[{KANA}])|(?P<latin>[{LATIN}]+)|(?P<other>[^\\W\\d_])")
TOKENS = re.compile(f"[{HAN}{KANA}]|[{LATIN}0-9]+")
EN_WORDS = frozenset({
    "the", "and", "of", "to", "is", "was", "that", "with", "for", "this", "are", "were", "be", "by", "it",
    "from", "has", "have", "at", "which", "who", "said", "his", "her", "their", "they", "not", "but",
})  # fmt: skip
FR_WORDS = frozenset({
    "le", "la", "les", "des", "du", "et", "est", "une", "un", "dans", "pour", "que", "qui", "pas", "sur",
    "au", "aux", "avec", "il", "elle", "ont", "été", "à", "ce", "cette", "sont", "par", "plus", "ses", "leur",
})  # fmt: skip
# Characters that exist only in Traditional Chinese; zh_CN output should not contain them.
TRADITIONAL = frozenset(
    "們個這說來時為國會對後開關經發問長點實現與過還應學種麼樣讓從當將無於間電話書車東見門義聽讀"
    "買賣兩萬號機業總結員專區華導盡變質歲體離難雙頭題顯風飛馬魚鳥黨農陽隊際陳陸進運達選邊郵鄉"
)
INSTRUCTION = re.compile(
    "|".join(
        (
            r"^\s*(sure|certainly|of course|okay)[,!]\s*(here|i)\b",
            r"\bhere(?:'s| is| are)\b[^.\n]{0,40}\b(summary|translation|translated|rewritten|version)\b",
            r"\b(summari[sz]e|translate|rephrase|polish)\b[^.\n]{0,30}\b(following|below)\b",
            r"^\s*(summary|translation|translated text|résumé|traduction)\s*[:：]",
            r"\bas an? (ai|language model)\b",
            r"^\s*(i'm sorry|i am sorry|sorry)\b[^\n]{0,80}\b(can't|cannot|unable)\b",
            r"^\s*(i cannot|i can't|i am unable to|i'm unable to) "
            r"(translate|summari[sz]e|help|assist|provide)\b",
            r"^\s*voici\b[^.\n]{0,40}\b(traduction|résumé)",
            r"以下是[^。\n]{0,20}(摘要|总结|概要|翻译|译文)",
            r"^\s*(摘要|总结|概要|译文|翻译|要約|翻訳)\s*[:：]",
            r"^\s*(请|請)(提供|给出|输入)",
            r"(作为|作為|我是)(一个|一個)?\s*(AI|人工智能)\s*(助手|语言模型|模型)",
            r"以下(は|が)[^。\n]{0,20}(翻訳|要約)",
        )
    ),
    re.IGNORECASE | re.MULTILINE,
)


def right_script(text: str, lang: str) -> bool:
    units = Counter(m.lastgroup or "other" for m in UNITS.finditer(text))
    total = sum(units.values())
    if total == 0:
        return False
    if lang == "zh":
        return units["han"] / total >= 0.5 and units["kana"] / total < 0.02
    if lang == "ja":
        cjk = units["han"] + units["kana"]
        return cjk / total >= 0.5 and units["kana"] / cjk >= 0.1
    return units["latin"] / total >= 0.8


def right_language(text: str, lang: str) -> bool:
    if not right_script(text, lang):
        return False
    if lang == "zh":
        han = re.findall(f"[{HAN}]", text)
        return sum(c in TRADITIONAL for c in han) <= max(1, len(han) // 50)
    if lang in ("en", "fr"):
        words = re.findall(f"[{LATIN}]+", text.lower())
        en, fr = sum(w in EN_WORDS for w in words), sum(w in FR_WORDS for w in words)
        if en + fr < 2:
            return True
        return fr > en if lang == "fr" else en >= fr
    return True


def is_empty(text: str) -> bool:
    return not text.strip()


def echoes_instruction(text: str) -> bool:
    return bool(INSTRUCTION.search(text))


# ---- ROUGE -----------------------------------------------------------------------------------------


class CJKTokenizer:
    """Lower-cased Latin/digit words and single Han or kana characters (the rouge-score interface)."""

    def tokenize(self, text: str) -> list[str]:
        return TOKENS.findall(text.lower())


ROUGE = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False, tokenizer=CJKTokenizer())


def rouge(hyp: str, refs: list[str]) -> dict[str, float]:
    scores = ROUGE.score_multi(refs, hyp)
    return {kind: score.fmeasure for kind, score in scores.items()}


def copies_source(output: str, source: str) -> bool:
    """A summary that is (nearly) the source: most of its 4-grams come from it and it is not much shorter."""
    tokenize = CJKTokenizer().tokenize
    out, src = tokenize(output), tokenize(source)
    if len(out) < 4 or len(out) < 0.6 * len(src):
        return False
    grams = Counter(tuple(out[i : i + 4]) for i in range(len(out) - 3))
    src_grams = Counter(tuple(src[i : i + 4]) for i in range(len(src) - 3))
    return sum((grams & src_grams).values()) / sum(grams.values()) >= 0.9


# ---- scoring ---------------------------------------------------------------------------------------


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def pct(flags: list[bool]) -> float:
    return round(100.0 * sum(flags) / len(flags), 1) if flags else 0.0


def score_translations(cases: list[Case], outputs: dict[str, str]) -> dict[str, Any]:
    chrf = CHRF()
    report: dict[str, Any] = {}
    for direction in sorted({f"{c['src_lang']}-{c['tgt_lang']}" for c in cases}):
        group = [c for c in cases if f"{c['src_lang']}-{c['tgt_lang']}" == direction]
        tgt = group[0]["tgt_lang"]
        hyps = [outputs.get(c["id"], "") for c in group]
        refs = [c["reference"] for c in group]
        bleu = BLEU(tokenize=BLEU_TOKENIZER.get(tgt, "13a"))
        echo = [
            not is_empty(h)
            and (
                " ".join(h.split()) == " ".join(c["source"].split())
                or chrf.sentence_score(h, [c["source"]]).score >= 70
            )
            for c, h in zip(group, hyps, strict=True)
        ]
        report[direction] = {
            "n": len(group),
            "chrF": round(chrf.corpus_score(hyps, [refs]).score, 2),
            "BLEU": round(bleu.corpus_score(hyps, [refs]).score, 2),
            "right_script_pct": pct([right_script(h, tgt) for h in hyps]),
            "right_language_pct": pct([right_language(h, tgt) for h in hyps]),
            "empty_pct": pct([is_empty(h) for h in hyps]),
            "instruction_echo_pct": pct([echoes_instruction(h) for h in hyps]),
            "source_echo_pct": pct(echo),
            "signature": {"chrF": str(chrf.get_signature()), "BLEU": str(bleu.get_signature())},
            "per_case_chrF": {
                c["id"]: round(chrf.sentence_score(h, [c["reference"]]).score, 2)
                for c, h in zip(group, hyps, strict=True)
            },
        }
    return report


def score_summaries(cases: list[Case], outputs: dict[str, str]) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for lang in sorted({c["src_lang"] for c in cases}):
        group = [c for c in cases if c["src_lang"] == lang]
        pairs = [(c, outputs.get(c["id"], "")) for c in group]
        scores = [rouge(h, [c["reference"], *c.get("extra_references", [])]) for c, h in pairs]
        first_ref = [rouge(h, [c["reference"]])["rougeL"] for c, h in pairs]
        ratios = [len(h.strip()) / len(c["source"].strip()) for c, h in pairs]
        ref_ratios = [len(c["reference"].strip()) / len(c["source"].strip()) for c in group]
        report[lang] = {
            "n": len(group),
            **{
                k: round(100 * statistics.fmean(s[k] for s in scores), 2)
                for k in ("rouge1", "rouge2", "rougeL")
            },
            "rougeL_first_ref": round(100 * statistics.fmean(first_ref), 2),
            "compression_mean": round(statistics.fmean(ratios), 3),
            "compression_median": round(statistics.median(ratios), 3),
            "reference_compression_mean": round(statistics.fmean(ref_ratios), 3),
            "right_script_pct": pct([right_script(h, lang) for _, h in pairs]),
            "empty_pct": pct([is_empty(h) for _, h in pairs]),
            "instruction_echo_pct": pct([echoes_instruction(h) for _, h in pairs]),
            "source_echo_pct": pct([copies_source(h, c["source"]) for c, h in pairs]),
            "per_case_rougeL": {
                c["id"]: round(100 * s["rougeL"], 2) for c, s in zip(group, scores, strict=True)
            },
        }
    return report


def score(cases: list[Case], outputs: dict[str, str]) -> dict[str, Any]:
    return {
        "translate": score_translations([c for c in cases if c["op"] == "translate"], outputs),
        "summarize": score_summaries([c for c in cases if c["op"] == "summarize"], outputs),
    }


def shuffled_references(cases: list[Case]) -> dict[str, str]:
    """Each case gets the reference of another case in its group (a derangement): fluent text in the
    right language that says something else, a floor."""
    rng = random.Random(BASELINE_SEED)
    groups: dict[str, list[Case]] = {}
    for c in cases:
        groups.setdefault(f"{c['op']}:{c['src_lang']}-{c.get('tgt_lang', '')}", []).append(c)
    outputs: dict[str, str] = {}
    for group in groups.values():
        order = list(range(len(group)))
        rng.shuffle(order)
        for i, j in enumerate(order):
            outputs[group[j]["id"]] = group[order[(i + 1) % len(order)]]["reference"]
    return outputs


def report_lines(report: dict[str, Any], worst: int = 0) -> list[str]:
    tr, su = report["translate"], report["summarize"]
    lines = []
    if tr:
        lines.append(f"translate  ({next(iter(tr.values()))['signature']['chrF']})")
        lines.append(
            f"  {'dir':6} {'n':>3} {'chrF':>6} {'BLEU':>6} {'script%':>8} {'lang%':>6} {'empty%':>7} "
            f"{'instr%':>7} {'echo%':>6}"
        )
        for d, r in tr.items():
            lines.append(
                f"  {d:6} {r['n']:>3} {r['chrF']:>6.1f} {r['BLEU']:>6.1f} {r['right_script_pct']:>8.1f} "
                f"{r['right_language_pct']:>6.1f} {r['empty_pct']:>7.1f} {r['instruction_echo_pct']:>7.1f} "
                f"{r['source_echo_pct']:>6.1f}"
            )
    if su:
        lines.append("summarize  (ROUGE F1 x100, max over references; ratio = output chars / source chars)")
        lines.append(
            f"  {'lang':6} {'n':>3} {'R-1':>6} {'R-2':>6} {'R-L':>6} {'R-L@1':>6} {'ratio':>6} {'ref':>6} "
            f"{'script%':>8} {'empty%':>7} {'instr%':>7} {'echo%':>6}"
        )
        for lang, r in su.items():
            lines.append(
                f"  {lang:6} {r['n']:>3} {r['rouge1']:>6.1f} {r['rouge2']:>6.1f} {r['rougeL']:>6.1f} "
                f"{r['rougeL_first_ref']:>6.1f} {r['compression_mean']:>6.3f} "
                f"{r['reference_compression_mean']:>6.3f} {r['right_script_pct']:>8.1f} "
                f"{r['empty_pct']:>7.1f} {r['instruction_echo_pct']:>7.1f} {r['source_echo_pct']:>6.1f}"
            )
    for d, r in tr.items() if worst else ():
        low = sorted(r["per_case_chrF"].items(), key=lambda kv: kv[1])[:worst]
        lines.append(f"  lowest chrF {d}: " + ", ".join(f"{i}={s:.1f}" for i, s in low))
    for lang, r in su.items() if worst else ():
        low = sorted(r["per_case_rougeL"].items(), key=lambda kv: kv[1])[:worst]
        lines.append(f"  lowest ROUGE-L {lang}: " + ", ".join(f"{i}={s:.1f}" for i, s in low))
    return lines


def summary_line(report: dict[str, Any]) -> str:
    tr, su = report["translate"], report["summarize"]
    every = [*tr.values(), *su.values()]
    n = sum(r["n"] for r in every)

    def share(key: str) -> float:
        return sum(r[key] * r["n"] for r in every) / n if n else 0.0

    parts = []
    if tr:
        parts.append("chrF " + " ".join(f"{d}={r['chrF']:.1f}" for d, r in tr.items()))
    if su:
        parts.append("ROUGE-L " + " ".join(f"{lang}={r['rougeL']:.1f}" for lang, r in su.items()))
    parts.append(
        f"right-script {share('right_script_pct'):.0f}%, empty {share('empty_pct'):.0f}%, "
        f"instruction-echo {share('instruction_echo_pct'):.0f}%, source-echo {share('source_echo_pct'):.0f}%"
    )
    return "quality: " + " | ".join(parts)


def read_outputs(path: Path) -> dict[str, str]:
    outputs = {}
    for row in load_jsonl(path):
        text = row.get("text")
        outputs[str(row["id"])] = text if isinstance(text, str) else ""
    return outputs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outputs", nargs="?", type=Path, help="JSONL of {'id', 'text'}")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--reference-baseline", action="store_true", help="references shuffled across cases")
    ap.add_argument("--dump", choices=("references", "sources"), help="print an outputs file and exit")
    ap.add_argument("--json", type=Path, help="also write the full report (with per-case scores) here")
    ap.add_argument("--worst", type=int, default=0, help="list the N lowest-scoring ids per group")
    ap.add_argument("--min-chrf", type=float, help="exit 1 if any direction's chrF is below this")
    ap.add_argument("--min-rouge-l", type=float, help="exit 1 if any language's ROUGE-L is below this")
    args = ap.parse_args()
    if not (args.outputs or args.reference_baseline or args.dump):
        ap.error("give an outputs file, --reference-baseline or --dump")
    cases = load_jsonl(args.data)
    if args.dump:
        field = "reference" if args.dump == "references" else "source"
        for c in cases:
            print(json.dumps({"id": c["id"], "text": c[field]}, ensure_ascii=False))
        return 0
    if args.reference_baseline:
        outputs = shuffled_references(cases)
        print("reference baseline: every case scored with another case's reference (same group)")
    else:
        try:
            outputs = read_outputs(args.outputs)
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"quality_score.py: cannot read outputs: {e}", file=sys.stderr)
            return 2
        ids = {c["id"] for c in cases}
        missing, unknown = ids - outputs.keys(), outputs.keys() - ids
        print(
            f"outputs: {len(outputs)} rows, {len(missing)} missing (scored as empty), {len(unknown)} unknown"
        )
    report = score(cases, outputs)
    print("\n".join(report_lines(report, args.worst)))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    tr, su = report["translate"], report["summarize"]
    missed = [f"chrF {d}" for d, r in tr.items() if args.min_chrf is not None and r["chrF"] < args.min_chrf]
    missed += [
        f"ROUGE-L {k}"
        for k, r in su.items()
        if args.min_rouge_l is not None and r["rougeL"] < args.min_rouge_l
    ]
    print(summary_line(report) + (f" | below bar: {', '.join(missed)}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
