"""Text extraction from real documents built here: docx, pptx, xlsx, pdf."""

from __future__ import annotations

import pytest

from doc_files import make_docx, make_pdf, make_pptx, make_xlsx
from ossdoc import errors
from ossdoc.services.docs import office
from ossdoc.services.docs.source import detect


def test_docx_text_is_complete_and_ordered() -> None:
    text = office.extract("docx", make_docx(), "r.docx")
    order = ["Header line", "Title of the report", "First paragraph.", "cell 00\tcell 01", "cell 10\tcell 11",
             "Paragraph after the table.", "Footer line"]  # fmt: skip
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)


def test_pptx_slides_tables_then_notes() -> None:
    text = office.extract("pptx", make_pptx(), "deck.pptx")
    order = ["# Slide 1", "Slide one title", "Bullet on slide one", "Notes: Speaker notes one", "# Slide 2",
             "Slide two title", "t00", "t11"]  # fmt: skip
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)


def test_xlsx_every_sheet_without_empty_rows() -> None:
    text = office.extract("xlsx", make_xlsx(), "book.xlsx")
    assert text == "# Sales\nregion\tamount\nnorth\t10\n# Notes\nremember\t\tthis"


def test_pdf_pages_in_order() -> None:
    text = office.extract("pdf", make_pdf(["First page text", "Second page text"]), "doc.pdf")
    assert text.index("First page text") < text.index("Second page text")


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("pdf", make_pdf(["whole"])[:200], "not a readable PDF"),
        ("pdf", make_pdf([""]), "no text layer"),
        ("docx", b"PK\x03\x04 broken zip", "not a readable DOCX"),
        ("xlsx", make_docx(), "not a readable XLSX"),
        ("pptx", b"", "not a readable PPTX"),
    ],
)
def test_broken_documents_get_clear_errors(kind: str, data: bytes, message: str) -> None:
    with pytest.raises(errors.OSSError) as info:
        office.extract(kind, data, "obj")
    assert info.value.code == "InvalidArgument"
    assert message in info.value.message


def test_detection_order() -> None:
    docx_bytes = make_docx()
    assert detect("application/octet-stream", "noext", docx_bytes) == "docx"  # magic + zip contents
    assert detect("", "deck.pptx", b"") == "pptx"  # extension
    assert detect("application/pdf", "file.txt", b"") == "pdf"  # content type first
    assert detect("text/plain", "x.pdf", b"%PDF-") == "text"
    with pytest.raises(errors.OSSError):
        detect("application/octet-stream", "archive", b"PK\x03\x04not office")
