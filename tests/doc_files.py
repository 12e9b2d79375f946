"""Real documents built in code, for extraction tests: docx, pptx, xlsx, pdf."""

from __future__ import annotations

import io
from pathlib import Path
from xml.sax.saxutils import escape

import docx
import openpyxl
import pptx
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
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


# Namespaces of a text box as Word writes it: DrawingML, with a VML copy for older readers.
_BOX_NAMESPACES = {
    "w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
    "wp": "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing",
    "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
    "wps": "http://schemas.microsoft.com/office/word/2010/wordprocessingShape",
    "v": "urn:schemas-microsoft-com:vml",
}


def text_box(text: str) -> str:
    """A run holding a floating text box, its DrawingML shape and its VML fallback."""
    content = f"<w:txbxContent><w:p><w:r><w:t>{escape(text)}</w:t></w:r></w:p></w:txbxContent>"
    namespaces = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in _BOX_NAMESPACES.items())
    return (
        f'<w:r {namespaces}><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wp:anchor>'
        '<a:graphic><a:graphicData uri="http://schemas.microsoft.com/office/word/2010/wordprocessingShape">'
        f"<wps:wsp><wps:txbx>{content}</wps:txbx></wps:wsp></a:graphicData></a:graphic></wp:anchor>"
        f"</w:drawing></mc:Choice><mc:Fallback><w:pict><v:shape><v:textbox>{content}</v:textbox>"
        "</v:shape></w:pict></mc:Fallback></mc:AlternateContent></w:r>"
    )


def make_docx_structures() -> bytes:
    """A table with a horizontally merged cell, a vertically merged one, a nested table and a row in a
    repeating-section content control; a text box; inline and block content controls."""
    document = docx.Document()
    document.add_paragraph("Before the table.")
    table = document.add_table(rows=4, cols=3)
    table.cell(0, 0).merge(table.cell(0, 2)).text = "Merged title"
    table.cell(1, 0).merge(table.cell(2, 0)).text = "North"
    table.cell(1, 1).text, table.cell(1, 2).text = "Q1", "10"
    table.cell(2, 1).text, table.cell(2, 2).text = "Q2", "20"
    nested = table.cell(2, 2).add_table(rows=1, cols=2)
    nested.cell(0, 0).text, nested.cell(0, 1).text = "Inner left", "Inner right"
    table.cell(3, 0).text, table.cell(3, 2).text = "Total", "30"
    row = table.rows[3]._tr
    control = parse_xml(f"<w:sdt {nsdecls('w')}><w:sdtPr/><w:sdtContent/></w:sdt>")
    row.addprevious(control)
    control[1].append(row)
    box = document.add_paragraph("Next to a box")
    box._p.append(parse_xml(text_box("Boxed note")))
    client = document.add_paragraph("Client: ")
    client._p.append(
        parse_xml(
            f'<w:sdt {nsdecls("w")}><w:sdtPr><w:alias w:val="Client"/></w:sdtPr><w:sdtContent><w:r>'
            "<w:t>ACME works</w:t></w:r></w:sdtContent></w:sdt>"
        )
    )
    after = document.add_paragraph("After the controls.")
    after._p.addprevious(
        parse_xml(
            f'<w:sdt {nsdecls("w")}><w:sdtPr><w:alias w:val="Sign-off"/></w:sdtPr><w:sdtContent><w:p><w:r>'
            "<w:t>Signed by the board.</w:t></w:r></w:p></w:sdtContent></w:sdt>"
        )
    )
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_docx_headers() -> bytes:
    """Two sections. The first shows a first-page, an odd (default) and an even-page header; the second
    its own default header and the first's even one (linked), and has a first-page header it does not
    show ("different first page" off)."""
    document = docx.Document()
    document.settings.odd_and_even_pages_header_footer = True
    first = document.sections[0]
    first.different_first_page_header_footer = True
    first.first_page_header.paragraphs[0].text = "First page header"
    first.header.paragraphs[0].text = "Running header"
    first.even_page_header.paragraphs[0].text = "Even header"
    first.footer.paragraphs[0].text = "Running footer"
    document.add_paragraph("Body of section one.")
    second = document.add_section()
    second.different_first_page_header_footer = False
    second.header.is_linked_to_previous = False
    second.header.paragraphs[0].text = "Appendix header"
    second.first_page_header.is_linked_to_previous = False
    second.first_page_header.paragraphs[0].text = "Unshown header"
    document.add_paragraph("Body of section two.")
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
