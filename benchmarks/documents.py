"""Documents: text extraction against the readers ossdoc passed over, and long documents processed
in pieces against one-shot, each compared within one run.

1. Extraction. One document per format, built here: a 50-page PDF (reportlab, as the tests make
   theirs), a docx of 200 paragraphs with headings, tables, header and footer, a 50-slide pptx with
   notes and tables, a 4-sheet xlsx of 20,000 rows, a 200 KB HTML page with scripts and styles.
   Readers alternate; prints the median ms of --runs, each alternative's time over ossdoc's, and
   the characters each returns (a fair race reads about the same text).
2. Throughput. One text processed one-shot (a context that holds it) and in pieces (--small-context
   forces them), through DocumentService in-process with the result cache off; input characters per
   second and chunked / one-shot (target >= 0.9). On the scripted fake with a per-token delay, that
   is ossdoc's own cost of chunking (map-reduce also writes the pieces' summaries: more tokens); on
   the real default model, the repeated prompts against the cheaper attention of short contexts.
   doc/translate goes piece by piece, doc/summarize map-reduce. Each paragraph names its report
   number, so the paragraphs column counts those a translation accounts for: a small model's
   one-shot may stop early, and a rate for work not done is no rate.
3. Long summaries (--only summaries): SummEval articles (benchmarks/quality_data) joined, four to a
   document, summarized one-shot and map-reduce by the default model as in 2; ROUGE-L against
   their references joined in the same order, the summary's length over the document's, and
   input characters per second: a faster map-reduce must not be a worse summary.
4. --real-200k (off by default: about an hour on 2 cores): a 200 KB English text stored in a real
   ossdoc server with default settings, translated into Chinese and then summarized by the default
   model; checks that every paragraph came back, in order, none empty or left in English.

  .venv/bin/python benchmarks/documents.py [--runs 7] [--only extract|throughput] [--skip-real]
  .venv/bin/python benchmarks/documents.py --only throughput --operation doc/summarize --real-rounds 3
  .venv/bin/python benchmarks/documents.py --only summaries [--summary-docs 3] [--real-rounds 1]
  .venv/bin/python benchmarks/documents.py --only long --real-200k
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import docx
import openpyxl
import oss2
import pptx
from pptx.util import Inches

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from doc_files import make_pdf  # noqa: E402
from doc_http import make_bucket, post  # noqa: E402
from ossdoc.backends.llm.base import Chunk, LLMBackend, Message, ModelInfo, Sampling  # noqa: E402
from ossdoc.backends.llm.fake import ScriptedLLM  # noqa: E402
from ossdoc.config import Settings  # noqa: E402
from ossdoc.services.docs.generation import Progress  # noqa: E402
from ossdoc.services.docs.operations import OPERATIONS  # noqa: E402
from ossdoc.services.docs.registry import Args  # noqa: E402
from ossdoc.services.docs.service import DocumentService  # noqa: E402
from ossdoc.services.docs.source import StoredDocument, text_of  # noqa: E402
from ossdoc_server import running  # noqa: E402

# Prose: sentences drawn from these, no digits, so each paragraph's "Report <n>" is the only number
# in it and tells where a translated paragraph came from.
SUBJECTS = (
    "The city council", "A small bakery in the harbour town", "The research team at the university",
    "Local farmers", "The regional hospital", "Engineers at the port", "Volunteers from the primary school",
    "The national weather service", "A group of retired teachers", "The railway company",
    "Two young architects", "The museum's new director", "Fishermen along the northern coast",
    "The water board", "An independent bookshop",
)  # fmt: skip
VERBS = (
    "approved", "announced", "reported on", "finished", "postponed", "reviewed", "expanded",
    "celebrated", "questioned", "paid for", "tested", "described",
)  # fmt: skip
OBJECTS = (
    "a plan to build three parks and a public library", "the results of a long study of river pollution",
    "a programme of weekend classes for adults", "the repair of the old stone bridge",
    "a new timetable for the morning trains", "an exhibition of photographs from the last century",
    "the cost of heating the town's schools", "a network of cycle paths between the villages",
    "the first harvest after the long drought", "a proposal to close the market on Sundays",
    "measures to protect the wetlands from flooding", "a scheme that lends tools to neighbours",
)  # fmt: skip
TAILS = (
    "after a long public debate", "despite heavy rain during most of the week",
    "to the surprise of many residents", "with help from a national charity",
    "although the budget was smaller than last year", "before the end of the summer",
    "in a meeting that lasted until midnight", "while critics asked for more time",
    "as part of a wider effort to attract visitors", "following complaints from shop owners",
)  # fmt: skip
FIRST_REPORT = 101


def sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(TAILS)}."


def paragraphs(count: int, seed: int = 7) -> list[str]:
    return list(itertools.islice(paragraph_stream(seed), count))


def prose(chars: int, seed: int = 7) -> list[str]:
    """Paragraphs adding up to at least ``chars`` characters (joined by blank lines)."""
    texts: list[str] = []
    size = -2
    for text in paragraph_stream(seed):
        if size >= chars:
            break
        texts.append(text)
        size += len(text) + 2
    return texts


def paragraph_stream(seed: int) -> Iterator[str]:
    """Paragraphs of four to seven sentences, the n-th opening with "Report <FIRST_REPORT + n>"."""
    rng = random.Random(seed)
    for report in itertools.count(FIRST_REPORT):
        opening = sentence(rng)
        rest = [sentence(rng) for _ in range(rng.randint(3, 6))]
        yield " ".join([f"Report {report} notes that {opening[0].lower()}{opening[1:]}", *rest])


# 1. Extraction -----------------------------------------------------------------------------------


def pdf_file() -> bytes:
    text = paragraphs(50 * 5)  # five paragraphs fill a page
    return make_pdf([text[page * 5 : page * 5 + 5] for page in range(50)])


def docx_file() -> bytes:
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "Annual report of the harbour town: internal draft"
    document.sections[0].footer.paragraphs[0].text = "Prepared by the town clerk's office"
    rng = random.Random(3)
    for n, text in enumerate(paragraphs(200)):
        if n % 10 == 0:
            document.add_heading(f"Chapter {n // 10 + 1}: {rng.choice(OBJECTS)}", level=1)
        document.add_paragraph(text)
        if n % 20 == 19:
            table = document.add_table(rows=6, cols=4)
            for row in table.rows:
                values = (
                    rng.choice(SUBJECTS),
                    rng.choice(VERBS),
                    str(rng.randint(1, 9999)),
                    rng.choice(TAILS),
                )
                for cell, value in zip(row.cells, values, strict=True):
                    cell.text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pptx_file() -> bytes:
    deck = pptx.Presentation()
    notes = paragraphs(50, seed=11)
    rng = random.Random(5)
    for n in range(50):
        if n % 10 == 9:
            slide = deck.slides.add_slide(deck.slide_layouts[5])
            slide.shapes.title.text = f"Figures for part {n // 10 + 1}"
            table = slide.shapes.add_table(5, 3, Inches(1), Inches(2), Inches(8), Inches(3)).table
            for r in range(5):
                for c in range(3):
                    table.cell(r, c).text = rng.choice(SUBJECTS) if c == 0 else str(rng.randint(1, 999))
        else:
            slide = deck.slides.add_slide(deck.slide_layouts[1])
            slide.shapes.title.text = rng.choice(OBJECTS).capitalize()
            body = slide.placeholders[1].text_frame
            body.text = sentence(rng)
            for _ in range(3):
                body.add_paragraph().text = sentence(rng)
        slide.notes_slide.notes_text_frame.text = notes[n]
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def xlsx_file() -> bytes:
    workbook = openpyxl.Workbook(write_only=True)
    rng = random.Random(9)
    for name in ("Sales", "Stock", "Orders", "Returns"):
        sheet = workbook.create_sheet(name)
        sheet.append(["id", "date", "region", "item", "quantity", "price"])
        for n in range(5000):
            day = date(2024, 1, 1) + timedelta(days=n % 365)
            item = rng.choice(OBJECTS)[:30]
            sheet.append(
                [n, day, rng.choice(SUBJECTS), item, rng.randint(1, 500), round(rng.uniform(1, 900), 2)]
            )
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def html_file() -> bytes:
    rng = random.Random(13)
    style = "".join(
        f".c{n} {{ margin: {n % 9}px; color: #{n * 4099 % 0xFFFFFF:06x}; }}\n" for n in range(700)
    )
    script = "".join(
        f"function handler{n}(event) {{ const el = document.getElementById('x{n}'); "
        f"if (el) {{ el.classList.toggle('c{n % 700}'); }} return {n}; }}\n"
        for n in range(700)
    )
    parts = [
        f"<!DOCTYPE html><html><head><title>Town news</title><style>{style}</style>",
        f"<script>{script}</script></head><body><nav><ul>",
    ]
    parts += [f"<li><a href='/s/{n}'>{rng.choice(SUBJECTS)}</a></li>" for n in range(40)]
    parts.append("</ul></nav><main>")
    for n, text in enumerate(paragraphs(120, seed=17)):
        if n % 10 == 0:
            parts.append(f"<section><h2 class='c{n}'>{rng.choice(OBJECTS).capitalize()}</h2>")
        parts.append(f"<p class='c{n % 700}'>{text.replace(' notes ', ' <em>notes</em> ')}</p>")
        if n % 30 == 29:
            rows = "".join(
                f"<tr><td>{rng.choice(SUBJECTS)}</td><td>{rng.randint(1, 999)}</td></tr>" for _ in range(8)
            )
            parts.append(f"<table><tbody>{rows}</tbody></table><script>track({n});</script>")
        if n % 10 == 9:
            parts.append("</section>")
    parts.append("</main><footer><p>Published by the town clerk&#8217;s office &amp; friends.</p></footer>")
    return "\n".join([*parts, "</body></html>"]).encode()


Reader = Callable[[bytes], str]


def ossdoc_reader(kind: str) -> Reader:
    return lambda data: text_of(StoredDocument(f"doc.{kind}", kind, data))


def pypdf_text(data: bytes) -> str:
    import pypdf

    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def docx2txt_text(data: bytes) -> str:
    import docx2txt

    text: str = docx2txt.process(io.BytesIO(data))
    return text


def mammoth_text(data: bytes) -> str:
    import mammoth

    text: str = mammoth.extract_raw_text(io.BytesIO(data)).value
    return text


def soup_reader(parser: str) -> Reader:
    def read(data: bytes) -> str:
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(data.decode(), parser)
        for hidden in soup(["script", "style", "noscript", "template", "head"]):
            hidden.decompose()
        text: str = soup.get_text("\n", strip=True)
        return text

    return read


def html2text_text(data: bytes) -> str:
    import html2text

    converter = html2text.HTML2Text()
    converter.ignore_links = converter.ignore_images = True
    converter.body_width = 0
    text: str = converter.handle(data.decode())
    return text


def openpyxl_full_text(data: bytes) -> str:
    workbook = openpyxl.load_workbook(io.BytesIO(data), data_only=True)  # not read_only: the whole tree
    lines = []
    for sheet in workbook.worksheets:
        lines.append(f"# {sheet.title}")
        for row in sheet.iter_rows(values_only=True):
            lines.append("\t".join("" if value is None else str(value) for value in row))
    return "\n".join(lines)


def pandas_text(data: bytes) -> str:
    import pandas

    sheets = pandas.read_excel(io.BytesIO(data), sheet_name=None, header=None)
    return "\n".join(
        f"# {name}\n" + frame.to_csv(sep="\t", header=False, index=False) for name, frame in sheets.items()
    )


FORMATS: dict[str, tuple[Callable[[], bytes], str, list[tuple[str, Reader]]]] = {
    "pdf": (pdf_file, "pypdfium2", [("pypdf", pypdf_text)]),
    "docx": (docx_file, "python-docx", [("docx2txt", docx2txt_text), ("mammoth (raw text)", mammoth_text)]),
    "pptx": (pptx_file, "python-pptx", []),
    "xlsx": (
        xlsx_file,
        "openpyxl read-only",
        [("openpyxl (full load)", openpyxl_full_text), ("pandas.read_excel", pandas_text)],
    ),
    "html": (
        html_file,
        "html.parser",
        [
            ("bs4 + html.parser", soup_reader("html.parser")),
            ("bs4 + lxml", soup_reader("lxml")),
            ("html2text", html2text_text),
        ],
    ),
}


def extraction(runs: int) -> None:
    print(f"extraction: median of {runs} runs, readers alternating; ratio = time / ossdoc's time")
    print(f"{'format':<7}{'reader':<34}{'size':>9}{'ms':>10}{'ratio':>8}{'chars':>10}{'/ossdoc':>9}")
    for kind, (build, ours, others) in FORMATS.items():
        data = build()
        readers = [(f"ossdoc ({ours})", ossdoc_reader(kind)), *others]
        chars = [len(read(data)) for _, read in readers]  # also the warm-up: imports, first-call caches
        times: list[list[float]] = [[] for _ in readers]
        for _ in range(runs):
            for spent, (_, read) in zip(times, readers, strict=True):
                start = time.perf_counter()
                read(data)
                spent.append(time.perf_counter() - start)
        medians = [statistics.median(spent) * 1000 for spent in times]
        for n, (name, _) in enumerate(readers):
            size = f"{len(data) // 1024} KiB" if n == 0 else ""
            print(
                f"{kind if n == 0 else '':<7}{name:<34}{size:>9}{medians[n]:>10.1f}"
                f"{medians[n] / medians[0]:>8.2f}{chars[n]:>10}{chars[n] / chars[0]:>9.2f}"
            )


# 2. Throughput -------------------------------------------------------------------------------------


class Narrowed:
    """A loaded backend announcing a smaller context: the service plans pieces for that context
    while the same model (same weights, threads, warm caches) runs them."""

    def __init__(self, backend: LLMBackend, context_size: int) -> None:
        self.backend = backend
        self._info = replace(backend.info, context_size=context_size)

    @property
    def info(self) -> ModelInfo:
        return self._info

    async def count_tokens(self, text: str) -> int:
        return await self.backend.count_tokens(text)

    def generate(self, messages: list[Message], sampling: Sampling) -> AsyncIterator[Chunk]:
        return self.backend.generate(messages, sampling)

    async def close(self) -> None:
        return None


def fake_reply(messages: list[Message]) -> str:
    """The fake's work: a "translation" is the document as it came (as many tokens as its source),
    a "summary" its first sixth."""
    text = messages[-1].content.split("<text>\n", 1)[1].rsplit("\n</text>", 1)[0]
    if "summar" not in messages[0].content:
        return text
    words = text.split()
    return " ".join(words[: max(1, len(words) // 6)])


@dataclass
class Pass:
    seconds: float
    result: Progress


async def process(backend: LLMBackend, settings: Settings, operation: str, text: str, args: Args) -> Pass:
    service = DocumentService(backend, settings)
    start = time.perf_counter()
    generation = await service.start(OPERATIONS[operation], text, args)
    last: Progress | None = None
    try:
        async for last in generation:  # noqa: B007 - only the final step matters
            pass
    finally:
        await generation.aclose()
    assert last is not None and last.finish_reason is not None
    return Pass(time.perf_counter() - start, last)


def reports(text: str, count: int) -> list[int]:
    """The report numbers of the first ``count`` paragraphs that ``text`` names, in its order."""
    expected = range(FIRST_REPORT, FIRST_REPORT + count)
    return [int(n) for n in re.findall(r"\d+", text) if int(n) in expected]


OPS = (("doc/translate", Args({"language": "zh_CN"})), ("doc/summarize", Args({})))


async def compare(
    title: str,
    backends: tuple[LLMBackend, LLMBackend],
    settings: Settings,
    text: str,
    rounds: int,
    operations: list[str],
) -> None:
    """One-shot (backends[0]) against chunked (backends[1]), alternating, median of ``rounds``."""
    count = text.count("\n\n") + 1
    print(f"\n{title}: {len(text)} chars in {count} paragraphs, median of {rounds}")
    print(
        f"{'operation':<15}{'mode':<10}{'context':>8}{'chunks':>7}{'s':>8}{'in chars/s':>12}{'ratio':>7}"
        f"{'out tokens':>11}{'out chars':>10}{'finish':>7}{'paragraphs':>11}"
    )
    for operation, args in OPS:
        if operation not in operations:
            continue
        passes: tuple[list[Pass], list[Pass]] = ([], [])
        for _ in range(rounds):
            for backend, done in zip(backends, passes, strict=True):
                done.append(await process(backend, settings, operation, text, args))
        rates: list[float] = []
        for mode, backend, done in zip(("one-shot", "chunked"), backends, passes, strict=True):
            typical = sorted(done, key=lambda p: p.seconds)[len(done) // 2]
            result = typical.result
            rates.append(len(text) / typical.seconds)
            ratio = f"{rates[-1] / rates[0]:.2f}" if len(rates) == 2 else ""
            # A translation should name every paragraph's report: how many does it?
            named = f"{len(set(reports(result.text, count)))}/{count}" if operation == "doc/translate" else ""
            print(
                f"{operation:<15}{mode:<10}{backend.info.context_size:>8}{result.chunks:>7}"
                f"{typical.seconds:>8.1f}{rates[-1]:>12.0f}{ratio:>7}{result.output_tokens:>11}"
                f"{len(result.text):>10}{result.finish_reason:>7}{named:>11}"
            )
    print("(target: chunked / one-shot >= 0.9; paragraphs: those a translation accounts for)")


async def throughput(args: argparse.Namespace, workdir: Path) -> None:
    text = "\n\n".join(prose(args.fake_chars))
    words = len(text.split())
    # Every word is a token of the fake; the one-shot context holds the text and a reply as long.
    settings = Settings(max_output_tokens=4 * words, cache_bytes=0)
    big, small = (
        ScriptedLLM(fake_reply, token_delay=args.token_delay_ms / 1000, context_size=context)
        for context in (4 * words, args.small_context)
    )
    title = f"scripted fake, {args.token_delay_ms} ms a token, {words} tokens"
    await compare(title, (big, small), settings, text, args.fake_rounds, args.operation)
    if args.skip_real:
        return
    from ossdoc.backends.llm.local import LocalLlama
    from ossdoc.models import resolve_model

    model = resolve_model(args.preset, workdir / "models")
    real = await asyncio.to_thread(
        LocalLlama, model, name=args.preset, context_size=8192, threads=args.threads
    )
    try:
        text = "\n\n".join(prose(args.real_chars, seed=23))
        tokens = await real.count_tokens(text)
        # One-shot: the default 8192-token context and room for a translation of all of it.
        settings = Settings(max_output_tokens=4096, cache_bytes=0)
        title = f"{args.preset}, {args.threads} threads, {tokens} tokens"
        await compare(
            title,
            (real, Narrowed(real, args.small_context)),
            settings,
            text,
            args.real_rounds,
            args.operation,
        )
    finally:
        await real.close()


# 3. Long summaries of real text ---------------------------------------------------------------------

QUALITY_CASES = ROOT / "benchmarks" / "quality_data" / "cases.jsonl"
ARTICLES = 4  # SummEval articles joined into one long document


def summary_documents(count: int) -> list[tuple[str, list[str]]]:
    """``count`` documents of ARTICLES SummEval articles each, and their references: each article's
    highlights (then each of its other references) joined in the same order."""
    cases = [json.loads(line) for line in QUALITY_CASES.read_text().splitlines() if line.strip()]
    articles = [case for case in cases if case["op"] == "summarize"]
    documents = []
    for n in range(min(count, len(articles) // ARTICLES)):
        group = articles[n * ARTICLES : (n + 1) * ARTICLES]
        text = "\n\n".join(case["source"].strip() for case in group)
        others = min(len(case.get("extra_references", [])) for case in group)
        references = ["\n".join(case["reference"] for case in group)] + [
            "\n".join(case["extra_references"][k] for case in group) for k in range(others)
        ]
        documents.append((text, references))
    return documents


async def summaries(args: argparse.Namespace, workdir: Path) -> None:
    import quality_score

    from ossdoc.backends.llm.local import LocalLlama
    from ossdoc.models import resolve_model

    model = resolve_model(args.preset, workdir / "models")
    real = await asyncio.to_thread(
        LocalLlama, model, name=args.preset, context_size=8192, threads=args.threads
    )
    settings = Settings(max_output_tokens=4096, cache_bytes=0)
    backends = (real, Narrowed(real, args.small_context))
    documents = summary_documents(args.summary_docs)
    print(
        f"\nlong summaries: {len(documents)} documents of {ARTICLES} SummEval articles, {args.preset}, "
        f"{args.threads} threads, {args.real_rounds} round(s); ROUGE-L F1 x100 against the references joined"
    )
    print(f"{'doc':<5}{'mode':<10}{'chars':>7}{'chunks':>7}{'s':>8}{'in chars/s':>12}{'out tokens':>11}"
          f"{'ratio':>7}{'ROUGE-L':>9}")  # fmt: skip
    totals: dict[str, list[float]] = {"one-shot": [0.0, 0.0, 0.0], "chunked": [0.0, 0.0, 0.0]}
    try:
        for n, (text, references) in enumerate(documents):
            for _ in range(args.real_rounds):
                for mode, backend in zip(("one-shot", "chunked"), backends, strict=True):
                    done = await process(backend, settings, "doc/summarize", text, Args({}))
                    score = 100 * quality_score.rouge(done.result.text, references)["rougeL"]
                    total = totals[mode]
                    total[0] += done.seconds
                    total[1] += score / args.real_rounds / len(documents)
                    total[2] += len(done.result.text) / len(text) / args.real_rounds / len(documents)
                    print(
                        f"{n:<5}{mode:<10}{len(text):>7}{done.result.chunks:>7}{done.seconds:>8.1f}"
                        f"{len(text) / done.seconds:>12.0f}{done.result.output_tokens:>11}"
                        f"{len(done.result.text) / len(text):>7.3f}{score:>9.1f}",
                        flush=True,
                    )
    finally:
        await real.close()
    chars = args.real_rounds * sum(len(text) for text, _ in documents)
    rates = {mode: chars / total[0] for mode, total in totals.items()}
    for mode, total in totals.items():
        print(
            f"{'all':<5}{mode:<10}{chars:>7}{'':>7}{total[0]:>8.1f}{rates[mode]:>12.0f}{'':>11}"
            f"{total[2]:>7.3f}{total[1]:>9.1f}"
        )
    print(f"chunked / one-shot input chars/s: {rates['chunked'] / rates['one-shot']:.2f}")


# 4. A 200 KB document on a real server ----------------------------------------------------------------

HAN = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]+")


def han_share(text: str) -> float:
    han = len(HAN.findall(text))
    return han / max(1, han + len(LATIN.findall(text)))


def check_paragraphs(source: list[str], output: str) -> list[str]:
    """What is wrong with a paragraph-by-paragraph translation of ``source`` (empty: nothing)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    problems = []
    if len(lines) != len(source):
        problems.append(f"{len(lines)} paragraphs for {len(source)}")
    blocks = re.split(r"\n[ \t]*\n", output.strip())
    if len(blocks) != len(source) or any(not block.strip() for block in blocks):
        problems.append(f"{len(blocks)} blank-line-separated blocks for {len(source)}")
    # Each source paragraph names its own report number: they must all come back, in order.
    found = reports(output, len(source))
    missing = sorted(set(range(FIRST_REPORT, FIRST_REPORT + len(source))) - set(found))
    if missing:
        problems.append(f"report numbers missing: {len(missing)} ({missing[:8]}...)")
    backwards = sum(b < a for a, b in itertools.pairwise(found))
    if backwards:
        problems.append(f"report numbers out of order {backwards} times")
    echoes = [n for n, line in enumerate(lines) if han_share(line) < 0.5 or line in source]
    if echoes:
        problems.append(f"paragraphs left in English (or echoed): {len(echoes)}, first at {echoes[:8]}")
    return problems


def long_document(args: argparse.Namespace, workdir: Path) -> None:
    source = prose(args.long_kib * 1024, seed=29)
    text = "\n\n".join(source)
    settings = {"llm": "local", "model": args.preset, "cache_bytes": "0", "log_level": "info"}
    settings.update(setting.split("=", 1) for setting in args.long_setting)
    changed = ", ".join(args.long_setting) or "default settings"
    print(
        f"\n{len(text.encode()) // 1024} KiB document, {len(source)} paragraphs, real server, "
        f"{args.preset}, {changed}",
        flush=True,
    )
    with running(workdir / "long", **settings) as server:
        print(f"server log: {server.log}", flush=True)
        bucket = make_bucket(server)
        auth = oss2.Auth(server.access_key_id, server.access_key_secret)
        oss2.Bucket(auth, server.endpoint, bucket).put_object(
            "book.txt", text.encode(), headers={"Content-Type": "text/plain;charset=utf-8"}
        )
        for operation, params in (("doc/translate", ",language_zh_CN"), ("doc/summarize", "")):
            start = time.perf_counter()
            # JSON mode: events would carry the whole cumulative text, hundreds of KB, each time.
            reply = post(
                server, bucket, f"x-oss-process={operation}{params}", key="book.txt", timeout=6 * 3600
            )
            elapsed = time.perf_counter() - start
            if reply.status_code != 200:
                print(f"{operation}: HTTP {reply.status_code} after {elapsed:.0f} s: {reply.text[:500]}")
                continue
            packet = json.loads(reply.content)
            output = packet["Output"]["Text"]
            print(
                f"{operation}: {elapsed:.0f} s, {len(text) / elapsed:.0f} input chars/s, "
                f"Chunks {packet.get('Chunks', 1)}, FinishReason {packet['Output']['FinishReason']}, "
                f"Usage {packet['Usage']}, {len(output)} chars out",
                flush=True,
            )
            if operation == "doc/translate":
                problems = check_paragraphs(source, output)
                print(
                    "  paragraphs: "
                    + ("all accounted for, in order" if not problems else "; ".join(problems))
                )
                out = Path(tempfile.gettempdir()) / "ossdoc-documents-translation.txt"
                out.write_text(output)
                print(f"  translation kept in {out}")
            else:
                print(f"  summary: {output[:300]!r}...")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=("extract", "throughput", "summaries", "long"))
    parser.add_argument("--runs", type=int, default=7, help="extraction runs per reader")
    parser.add_argument("--preset", default="qwen2.5-coder-0.5b")
    parser.add_argument("--threads", type=int, default=Settings().threads)
    parser.add_argument("--small-context", type=int, default=1024, help="context that forces pieces")
    parser.add_argument("--fake-chars", type=int, default=40_000)
    parser.add_argument("--token-delay-ms", type=float, default=2.0, help="the fake's pace")
    parser.add_argument("--fake-rounds", type=int, default=3)
    parser.add_argument("--real-chars", type=int, default=12_000, help="about 2,200 tokens")
    parser.add_argument("--real-rounds", type=int, default=1)
    parser.add_argument("--summary-docs", type=int, default=3, help="long documents of SummEval articles")
    parser.add_argument(
        "--operation",
        action="append",
        choices=[name for name, _ in OPS],
        help="throughput of this operation only (repeatable; default: both)",
    )
    parser.add_argument("--skip-real", action="store_true", help="throughput on the fake only")
    parser.add_argument(
        "--real-200k", action="store_true", help="also the 200 KB document (--only long: it alone)"
    )
    parser.add_argument("--long-kib", type=int, default=200)
    parser.add_argument(
        "--long-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server setting for the 200 KB run, e.g. max_output_tokens=512",
    )
    args = parser.parse_args()
    args.operation = args.operation or [name for name, _ in OPS]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.only in (None, "extract"):
            extraction(args.runs)
        if args.only in (None, "throughput"):
            asyncio.run(throughput(args, workdir))
        if args.only == "summaries":
            asyncio.run(summaries(args, workdir))
        if args.real_200k or args.only == "long":
            long_document(args, workdir)


if __name__ == "__main__":
    main()
