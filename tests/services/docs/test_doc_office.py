"""Text extraction from real documents built here: docx, pptx, xlsx, pdf."""

from __future__ import annotations

import pytest

from doc_files import PDF_UNICODE, make_docx, make_pdf, make_pptx, make_xlsx, pdf_pages
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


def assert_complete_and_ordered(text: str, pages: list[list[str]]) -> None:
    # Wrapped lines come back as lines: compare with whitespace runs as single spaces.
    flat = " ".join(text.split())
    paragraphs = [paragraph for page in pages for paragraph in page]
    positions = [flat.find(" ".join(p.split())) for p in paragraphs]
    assert -1 not in positions, [p for p, at in zip(paragraphs, positions, strict=True) if at == -1]
    assert positions == sorted(positions)
    assert all(flat.count(" ".join(p.split())) == 1 for p in paragraphs)


def test_pdf_every_paragraph_in_page_order() -> None:
    pages = pdf_pages(3, 4)
    text = office.extract("pdf", make_pdf(pages), "doc.pdf")
    assert_complete_and_ordered(text, pages)


def test_pdf_columns_are_read_one_after_the_other() -> None:
    # Line by line across the page would interleave the columns and break every paragraph.
    pages = pdf_pages(2, 6)
    text = office.extract("pdf", make_pdf(pages, columns=2), "doc.pdf")
    assert_complete_and_ordered(text, pages)


@pytest.mark.skipif(not PDF_UNICODE, reason="no DejaVu font to embed (Debian's fonts-dejavu-core)")
def test_pdf_text_beyond_latin1() -> None:
    pages = [["Καλημέρα κόσμε, ελληνικό κείμενο.", "Съешь же ещё этих мягких французских булок."],
             ["Tiếng Việt có dấu: Đà Nẵng.", "Ħ ŋ ő ű — “quoted” € 1 234,5"]]  # fmt: skip
    text = office.extract("pdf", make_pdf(pages), "doc.pdf")
    assert_complete_and_ordered(text, pages)


def test_pdf_with_only_an_owner_password_is_read() -> None:
    # Encrypted, but "permissions only": it opens without a password, as in every viewer. Its no-copy flag
    # is advisory, and the object's owner asked for its text.
    pages = pdf_pages(2, 3)
    data = make_pdf(pages, owner_password="owner-secret")
    assert b"/Encrypt" in data
    assert_complete_and_ordered(office.extract("pdf", data, "doc.pdf"), pages)


def test_encrypted_pdfs_are_refused() -> None:
    locked = make_pdf(pdf_pages(1, 2), user_password="secret", owner_password="owner-secret")
    # A security handler PDFium does not have (certificates); the longer name shifts the offsets, which
    # PDFium rebuilds.
    certificate = locked.replace(b"/Filter /Standard", b"/Filter /Adobe.PubSec", 1)
    for data in (locked, certificate):
        with pytest.raises(errors.OSSError) as info:
            office.extract("pdf", data, "locked.pdf")
        assert info.value.code == "InvalidArgument"
        assert "encrypted (password-protected) PDF" in info.value.message


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("pdf", make_pdf(pdf_pages(2, 2))[:2000], "not a readable PDF"),
        ("pdf", make_pdf(pdf_pages(2, 2))[:-40], "not a readable PDF"),  # no trailer
        ("pdf", b"%PDF-1.7\n" + bytes(range(256)) * 8, "not a readable PDF"),
        ("pdf", make_pdf([[], []]), "no text layer"),
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
