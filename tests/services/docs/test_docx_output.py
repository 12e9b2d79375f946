"""A .docx rewritten paragraph by paragraph, on real python-docx files and the scripted backend (whose
"translation" upper-cases the text between the prompt's <text> tags)."""

from __future__ import annotations

import asyncio
import io
import re
import struct
import zlib
from typing import Any

import docx
import pytest
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.text.paragraph import Paragraph

from doc_files import make_docx_headers, make_docx_structures, make_pptx
from ossdoc import errors
from ossdoc.backends.llm import Message, ScriptedLLM
from ossdoc.config import Settings
from ossdoc.services.docs import docx_output, office
from ossdoc.services.docs.docx_output import RewriteStats, rewrite_docx
from ossdoc.services.docs.generation import Generation
from ossdoc.services.docs.operations import OPERATIONS
from ossdoc.services.docs.registry import Args, Operation
from ossdoc.services.docs.service import DocumentService

pytestmark = pytest.mark.anyio
TRANSLATE = OPERATIONS["doc/translate"]
# The fake "translates" by shouting the English text back: into English, which the language guard
# leaves alone (into French, it would restart the replies it finds in English).
INTO_ENGLISH = Args({"language": "en_US"})


def document_text(messages: list[Message]) -> str:
    """The text in the prompt: between <text> tags, or after translate's one-line request."""
    match = re.search(r"<text>\n(.*)\n</text>|^[^\n]*[:：]\n\n(.*)", messages[-1].content, re.S)
    assert match, messages[-1].content
    return match.group(1) or match.group(2)


def shout(messages: list[Message]) -> str:
    return document_text(messages).upper()


def service(llm: ScriptedLLM, **settings: int) -> DocumentService:
    return DocumentService(llm, Settings(**settings))  # type: ignore[arg-type]


async def translate(data: bytes, llm: ScriptedLLM | None = None) -> tuple[bytes, RewriteStats]:
    return await rewrite_docx(service(llm or ScriptedLLM(shout)), TRANSLATE, INTO_ENGLISH, data)


# Documents ----------------------------------------------------------------------------------------


def save(document: Any) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def add_field(paragraph: Paragraph, code: str, result: str) -> None:
    for xml in (
        '<w:r {}><w:fldChar w:fldCharType="begin"/></w:r>',
        f'<w:r {{}}><w:instrText xml:space="preserve"> {code} </w:instrText></w:r>',
        '<w:r {}><w:fldChar w:fldCharType="separate"/></w:r>',
        f"<w:r {{}}><w:t>{result}</w:t></w:r>",
        '<w:r {}><w:fldChar w:fldCharType="end"/></w:r>',
    ):
        paragraph._p.append(parse_xml(xml.format(nsdecls("w"))))


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def report() -> bytes:
    """Headings, styled runs, numbering, a table with a nested one, header and footer (with a PAGE
    field), a line break, a page break, a hyperlink, an inline picture, a text box, a numbers-only line."""
    document = docx.Document()
    section = document.sections[0]
    section.header.paragraphs[0].text = "Quarterly report"
    footer = section.footer.paragraphs[0]
    footer.add_run("Page ")
    add_field(footer, "PAGE", "1")
    footer.add_run(" of the report")
    document.add_heading("Results of the year", level=1)
    styled = document.add_paragraph()
    styled.alignment = WD_ALIGN_PARAGRAPH.CENTER
    first = styled.add_run("Sales grew")
    first.bold = True
    first.font.name = "Arial"
    styled.add_run(" in every ")
    styled.add_run("region").italic = True
    styled.add_run(".")
    lines = document.add_paragraph()
    lines.add_run("First line").add_break()
    lines.add_run("second line")
    document.add_paragraph("2024 — 12,5 % (3/4)")
    document.add_paragraph("Check the totals", style="List Number")
    document.add_paragraph("Compare the regions", style="List Number")
    table = document.add_table(rows=2, cols=3)
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row.cells):
            cell.text = f"Cell {r}{c}"
    nested = table.cell(1, 2).add_table(rows=1, cols=2)
    nested.cell(0, 0).text, nested.cell(0, 1).text = "Inner left", "Inner right"
    chapter = document.add_paragraph().add_run()
    chapter.add_break(WD_BREAK.PAGE)
    chapter.add_text("Chapter two")
    link = document.add_paragraph("See ")
    link._p.append(
        parse_xml(
            f'<w:hyperlink {nsdecls("w")} w:anchor="appendix"><w:r><w:rPr><w:rStyle w:val="Hyperlink"/>'
            "</w:rPr><w:t>the appendix</w:t></w:r></w:hyperlink>"
        )
    )
    link.add_run(" for details.")
    picture = document.add_paragraph("Before the chart ")
    picture.add_run().add_picture(io.BytesIO(png()))
    picture.add_run(" after the chart.")
    box = document.add_paragraph("Next to a box")
    box._p.append(
        parse_xml(
            f'<w:r {nsdecls("w")} xmlns:v="urn:schemas-microsoft-com:vml"><w:pict><v:shape><v:textbox>'
            "<w:txbxContent><w:p><w:r><w:t>Boxed note</w:t></w:r></w:p></w:txbxContent>"
            "</v:textbox></v:shape></w:pict></w:r>"
        )
    )
    return save(document)


def stories(data: bytes) -> list[Any]:
    document = docx.Document(io.BytesIO(data))
    section = document.sections[0]
    return [section.header._element, document.element.body, section.footer._element]


def paragraphs(data: bytes) -> list[Paragraph]:
    story_paragraphs = (p for story in stories(data) for p in story.iter(qn("w:p")))
    return [Paragraph(p, None) for p in story_paragraphs]  # type: ignore[arg-type]


def tags(data: bytes, *names: str) -> list[int]:
    return [sum(1 for story in stories(data) for _ in story.iter(qn(name))) for name in names]


def sent(llm: ScriptedLLM) -> list[str]:
    return [document_text(call) for call in llm.calls]


# Tests --------------------------------------------------------------------------------------------


async def test_every_paragraph_is_rewritten_in_place() -> None:
    source = report()
    llm = ScriptedLLM(shout)
    output, stats = await translate(source, llm)
    before, after = paragraphs(source), paragraphs(output)
    assert [p.text for p in after] == [p.text.upper() for p in before]
    assert "BOXED NOTE" in [p.text for p in after]
    # Paragraph properties (style, alignment, numbering) are untouched.
    assert [p._p.pPr is None or p._p.pPr.xml for p in after] == [
        p._p.pPr is None or p._p.pPr.xml for p in before
    ]
    assert stats.paragraphs == sum(1 for p in before if p.text.strip())
    assert stats.requests == len(llm.calls) < stats.segments
    assert stats.fallbacks == stats.truncated == 0
    assert stats.input_tokens > 0 and stats.output_tokens > 0


async def test_structure_and_formatting_survive() -> None:
    source = report()
    output, _ = await translate(source)
    document = docx.Document(io.BytesIO(output))
    styled = document.paragraphs[1]
    assert styled.alignment == WD_ALIGN_PARAGRAPH.CENTER
    # The new text takes the first run's formatting; the other runs are gone.
    assert [(r.text, r.bold, r.font.name) for r in styled.runs] == [
        ("SALES GREW IN EVERY REGION.", True, "Arial")
    ]
    assert [p.style and p.style.name for p in document.paragraphs] == [
        p.style and p.style.name for p in docx.Document(io.BytesIO(source)).paragraphs
    ]
    table = document.tables[0]
    assert [[c.text.strip() for c in row.cells] for row in table.rows] == [
        ["CELL 00", "CELL 01", "CELL 02"],
        ["CELL 10", "CELL 11", "CELL 12"],
    ]
    assert [c.text for c in table.cell(1, 2).tables[0].rows[0].cells] == ["INNER LEFT", "INNER RIGHT"]
    # Breaks, fields, the hyperlink, the picture and the text box are where they were.
    names = (
        "w:tbl",
        "w:tr",
        "w:tc",
        "w:br",
        "w:fldChar",
        "w:instrText",
        "w:hyperlink",
        "w:drawing",
        "w:pict",
    )
    assert tags(output, *names) == tags(source, *names)
    assert document.part.related_parts.keys() == docx.Document(io.BytesIO(source)).part.related_parts.keys()


async def test_line_breaks_fields_links_and_pictures_keep_their_places() -> None:
    output, _ = await translate(report())
    texts = {p.text: p for p in paragraphs(output)}
    lines = texts["FIRST LINE\nSECOND LINE"]
    assert [r.text for r in lines.runs] == ["FIRST LINE\nSECOND LINE"]
    # The PAGE field's result stays; the text around it is rewritten on each side.
    assert "PAGE 1 OF THE REPORT" in texts
    assert [h.text for h in texts["SEE THE APPENDIX FOR DETAILS."].hyperlinks] == ["THE APPENDIX"]
    picture = texts["BEFORE THE CHART  AFTER THE CHART."]
    assert [bool(r._r.findall(qn("w:drawing"))) for r in picture.runs] == [False, True, False]
    chapter = texts["CHAPTER TWO"]._p.find(qn("w:r"))
    assert [child.tag for child in chapter] == [qn("w:br"), qn("w:t")]  # the page break, then the text


async def test_tracked_changes_simple_fields_and_content_controls() -> None:
    document = docx.Document()
    paragraph = document.add_paragraph("Old ")
    for xml in (
        '<w:del w:id="1" w:author="a"><w:r><w:delText>removed</w:delText></w:r></w:del>',
        '<w:ins w:id="2" w:author="a"><w:r><w:t>added</w:t></w:r></w:ins>',
        '<w:r><w:t xml:space="preserve"> text, page </w:t></w:r>',
        '<w:fldSimple w:instr=" PAGE "><w:r><w:t>7</w:t></w:r></w:fldSimple>',
        '<w:sdt><w:sdtPr><w:alias w:val="Client"/></w:sdtPr><w:sdtContent><w:r><w:t>ACME works</w:t></w:r>'
        "</w:sdtContent></w:sdt>",
    ):
        paragraph._p.append(parse_xml(re.sub(r"^<([\w:]+)", rf"<\1 {nsdecls('w')}", xml)))
    output, _ = await translate(save(document))
    p = docx.Document(io.BytesIO(output)).paragraphs[0]._p
    texts = [t.text for t in p.iter(qn("w:t"), qn("w:delText"))]
    assert texts == ["OLD ", "removed", "ADDED", " TEXT, PAGE ", "7", "ACME WORKS"]
    assert p.find(qn("w:ins")) is not None and p.find(qn("w:fldSimple")) is not None


async def test_tables_text_boxes_controls_and_every_header_are_rewritten() -> None:
    source = make_docx_structures()
    output, _ = await translate(source)
    assert office.extract("docx", output, "o.docx") == office.extract("docx", source, "s.docx").upper()
    # Both copies of the text box: a reader that takes the VML fallback shows the translation too.
    assert [t.text for t in stories(output)[1].iter(qn("w:t")) if "OXED" in (t.text or "")] == [
        "BOXED NOTE"
    ] * 2
    output, _ = await translate(make_docx_headers())
    package = docx.Document(io.BytesIO(output)).part.package
    headers = [p.element for p in package.iter_parts() if p.partname.startswith("/word/header")]
    texts = sorted("".join(t.text for t in header.iter(qn("w:t"))) for header in headers)
    shown = ["APPENDIX HEADER", "EVEN HEADER", "FIRST PAGE HEADER", "RUNNING HEADER"]
    assert texts == [*shown, "UNSHOWN HEADER"]  # no section shows it, but one could


async def test_text_without_letters_is_kept_and_never_sent() -> None:
    llm = ScriptedLLM(shout)
    output, stats = await translate(report(), llm)
    assert "2024 — 12,5 % (3/4)" in [p.text for p in paragraphs(output)]
    assert not any("2024" in text for text in sent(llm))
    assert stats.kept == 1  # the PAGE field's "1" is not the paragraph's own text: never counted


async def test_a_repeated_text_is_rewritten_once() -> None:
    document = docx.Document()
    table = document.add_table(rows=3, cols=2)
    for row in table.rows:
        row.cells[0].text, row.cells[1].text = "Total", "Amount due"
    llm = ScriptedLLM(shout)
    output, stats = await translate(save(document), llm)
    assert [[c.text for c in row.cells] for row in docx.Document(io.BytesIO(output)).tables[0].rows] == [
        ["TOTAL", "AMOUNT DUE"]
    ] * 3
    assert sent(llm) == ["Total\n\nAmount due"]
    assert stats.segments == 2 and stats.paragraphs == 6


async def test_merged_paragraphs_fall_back_to_one_request_each() -> None:
    def merge(messages: list[Message]) -> str:  # a model that loses the blank lines
        return " ".join(document_text(messages).upper().split("\n\n"))

    source = report()
    llm = ScriptedLLM(merge)
    output, stats = await translate(source, llm)
    assert [p.text for p in paragraphs(output)] == [p.text.upper() for p in paragraphs(source)]
    assert stats.fallbacks >= 1
    batches = [text for text in sent(llm) if "\n\n" in text]
    assert len(batches) == stats.fallbacks
    assert stats.requests == len(llm.calls) == stats.fallbacks + stats.segments


async def test_a_sentence_moved_across_the_break_is_caught() -> None:
    short = "A short opening sentence."
    long = "A much longer paragraph follows it, with many more words than the first one has, by far."

    def shift(messages: list[Message]) -> str:  # as many parts, but the text moved between them
        text = document_text(messages).upper()
        if "\n\n" not in text:
            return text
        first, second = text.split("\n\n")
        return first + " " + second[:60] + "\n\n" + second[60:]

    document = docx.Document()
    document.add_paragraph(short)
    document.add_paragraph(long)
    llm = ScriptedLLM(shift)
    output, stats = await translate(save(document), llm)
    assert [p.text for p in docx.Document(io.BytesIO(output)).paragraphs] == [short.upper(), long.upper()]
    assert stats.fallbacks == 1 and len(llm.calls) == 3


async def test_a_paragraph_with_a_blank_line_goes_alone() -> None:
    document = docx.Document()
    document.add_paragraph("Before")
    run = document.add_paragraph().add_run("Upper half")
    run.add_break()
    run.add_break()
    run.add_text("lower half")
    document.add_paragraph("After")
    llm = ScriptedLLM(shout)
    output, _ = await translate(save(document), llm)
    assert sent(llm) == ["Before", "Upper half\n\nlower half", "After"]
    assert [p.text for p in docx.Document(io.BytesIO(output)).paragraphs] == [
        "BEFORE",
        "UPPER HALF\n\nLOWER HALF",
        "AFTER",
    ]


async def test_batches_stay_within_the_budget() -> None:
    document = docx.Document()
    for n in range(40):
        document.add_paragraph(f"Paragraph number {n} has a few words in it.")
    llm = ScriptedLLM(shout)
    docs = service(llm, max_output_tokens=300)
    output, stats = await rewrite_docx(docs, TRANSLATE, INTO_ENGLISH, save(document))
    limit = docx_output.batch_chars(docs)
    assert all(len(text) <= limit for text in sent(llm))
    assert all(text.count("\n\n") < docx_output.MAX_BATCH for text in sent(llm))
    assert 1 < stats.requests < 40
    assert [p.text for p in docx.Document(io.BytesIO(output)).paragraphs] == [
        f"PARAGRAPH NUMBER {n} HAS A FEW WORDS IN IT." for n in range(40)
    ]


async def test_control_characters_in_an_answer_are_dropped() -> None:
    document = docx.Document()
    document.add_paragraph("Hello")
    llm = ScriptedLLM(lambda messages: "Bon\x00jour\x1b")
    output, _ = await translate(save(document), llm)
    assert docx.Document(io.BytesIO(output)).paragraphs[0].text == "Bonjour"


async def test_an_empty_answer_keeps_the_source() -> None:
    document = docx.Document()
    document.add_paragraph("Hello")
    output, stats = await translate(save(document), ScriptedLLM(lambda messages: ""))
    assert docx.Document(io.BytesIO(output)).paragraphs[0].text == "Hello"
    assert stats.kept == 1 and stats.segments == 0


@pytest.mark.parametrize(
    "data",
    [b"not a word file", report()[:2000], make_pptx(), b""],
    ids=["text", "truncated", "pptx", "empty"],
)
async def test_a_file_that_is_not_a_docx_is_invalid_argument(data: bytes) -> None:
    llm = ScriptedLLM(shout)
    with pytest.raises(errors.InvalidArgument, match=r"not a readable \.docx"):
        await translate(data, llm)
    assert llm.calls == []


async def test_cancelling_closes_the_generation_and_frees_its_place() -> None:
    document = docx.Document()
    document.add_paragraph("word " * 500)
    llm = ScriptedLLM(shout, token_delay=0.001)
    docs = service(llm)
    task = asyncio.create_task(rewrite_docx(docs, TRANSLATE, INTO_ENGLISH, save(document)))
    while not llm.calls:
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert llm.cancelled == 1 and docs.admitted == 0


async def test_a_full_queue_refuses_the_first_request() -> None:
    docs = service(ScriptedLLM(shout), queue_size=0)
    held = await docs.start(TRANSLATE, "busy", INTO_ENGLISH)
    try:
        with pytest.raises(errors.SlowDown):
            await rewrite_docx(docs, TRANSLATE, INTO_ENGLISH, report())
    finally:
        await held.aclose()


async def test_later_requests_wait_for_a_place(monkeypatch: pytest.MonkeyPatch) -> None:
    class Busy(DocumentService):
        refusals = 2

        async def start(
            self, operation: Operation, content: str, args: Args, *more: Any, **named: Any
        ) -> Generation:
            if len(llm.calls) == 1 and self.refusals:
                self.refusals -= 1
                raise errors.SlowDown()
            return await super().start(operation, content, args, *more, **named)

    monkeypatch.setattr(docx_output, "RETRY_SECONDS", 0)
    document = docx.Document()
    document.add_paragraph("First")
    run = document.add_paragraph().add_run("Upper")
    run.add_break()
    run.add_break()
    run.add_text("lower")
    llm = ScriptedLLM(shout)
    docs = Busy(llm, Settings())
    output, stats = await rewrite_docx(docs, TRANSLATE, INTO_ENGLISH, save(document))
    assert [p.text for p in docx.Document(io.BytesIO(output)).paragraphs] == ["FIRST", "UPPER\n\nLOWER"]
    assert docs.refusals == 0 and stats.requests == 2
