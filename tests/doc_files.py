"""Real documents built in code, for extraction tests: docx, pptx, xlsx, pdf."""

from __future__ import annotations

import io
from pathlib import Path
from xml.sax.saxutils import escape

import docx
import openpyxl
import pptx
from pptx.util import Inches
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, FrameBreak, PageTemplate, Paragraph, Spacer

# Debian's fonts-dejavu-core: embedded (as a subset), it carries text beyond Latin-1. Without it, the
# standard Helvetica (Latin-1 only, not embedded).
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
PDF_UNICODE = _DEJAVU.is_file()
PDF_FONT = "DejaVuSans" if PDF_UNICODE else "Helvetica"
if PDF_UNICODE:
    pdfmetrics.registerFont(TTFont(PDF_FONT, str(_DEJAVU)))


def make_docx() -> bytes:
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "Header line"
    document.add_heading("Title of the report", level=1)
    document.add_paragraph("First paragraph.")
    table = document.add_table(rows=2, cols=2)
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row.cells):
            cell.text = f"cell {r}{c}"
    document.add_paragraph("Paragraph after the table.")
    document.sections[0].footer.paragraphs[0].text = "Footer line"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_pptx() -> bytes:
    deck = pptx.Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])
    first.shapes.title.text = "Slide one title"
    first.placeholders[1].text = "Bullet on slide one"
    first.notes_slide.notes_text_frame.text = "Speaker notes one"
    second = deck.slides.add_slide(deck.slide_layouts[5])
    second.shapes.title.text = "Slide two title"
    table = second.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    table.cell(0, 0).text, table.cell(1, 1).text = "t00", "t11"
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def make_xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    first = workbook.active
    first.title = "Sales"
    first.append(["region", "amount"])
    first.append(["north", 10])
    second = workbook.create_sheet("Notes")
    second.append(["remember", None, "this"])
    second.append([None, None, None])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def pdf_pages(pages: int, paragraphs: int) -> list[list[str]]:
    """Distinct paragraphs long enough to wrap, with Latin-1 letters (which every PDF font has)."""
    return [
        [
            f"Page {p} paragraph {n}: the façades of Größe Straße look naïve at {p}:{n}, and this sentence "
            "goes on long enough to wrap onto a second line of the page."
            for n in range(1, paragraphs + 1)
        ]
        for p in range(1, pages + 1)
    ]


def make_pdf(
    pages: list[list[str]],
    *,
    columns: int = 1,
    user_password: str | None = None,
    owner_password: str | None = None,
) -> bytes:
    """A PDF laid out by reportlab: each page's paragraphs, wrapped, filling ``columns`` columns in turn.

    A page without paragraphs has no text layer. With an owner password alone the file is encrypted but
    opens without a password ("permissions only": no copying, no changes)."""
    out = io.BytesIO()
    encrypt = None
    if user_password is not None or owner_password is not None:
        encrypt = StandardEncryption(
            user_password or "", owner_password, canCopy=0, canModify=0, strength=128
        )
    document = BaseDocTemplate(out, invariant=True, encrypt=encrypt)
    gap = 18
    width = (document.width - gap * (columns - 1)) / columns
    frames = [
        Frame(document.leftMargin + c * (width + gap), document.bottomMargin, width, document.height)
        for c in range(columns)
    ]
    document.addPageTemplates([PageTemplate(frames=frames)])
    style = getSampleStyleSheet()["BodyText"].clone("body", fontName=PDF_FONT)
    story: list[Flowable] = []
    for paragraphs in pages:
        per_column = -(-len(paragraphs) // columns)
        for c in range(columns):
            chunk = paragraphs[c * per_column : (c + 1) * per_column]
            story += [Paragraph(escape(text), style) for text in chunk] or [Spacer(width, 1)]
            story.append(FrameBreak())  # the next column, or the next page after the last one
    document.build(story[:-1])
    return out.getvalue()
