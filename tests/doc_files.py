"""Real documents built in code, for extraction tests: docx, pptx, xlsx, pdf."""

from __future__ import annotations

import io

import docx
import openpyxl
import pptx
from pptx.util import Inches


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


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF with a Helvetica text line per page (offsets computed, not guessed)."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]
    kids = []
    for text in pages:
        page_id, content_id = len(objects) + 1, len(objects) + 2
        kids.append(f"{page_id} 0 R")
        stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            "/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out
