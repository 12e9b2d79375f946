"""Text extraction from real documents built here: docx, pptx, xlsx, pdf."""

from __future__ import annotations

import io
import re
from typing import Any

import docx
import pytest
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls

from doc_files import (
    PDF_UNICODE,
    make_docx,
    make_docx_headers,
    make_docx_structures,
    make_pdf,
    make_pptx,
    make_xlsx,
    pdf_pages,
)
from ossdoc import errors
from ossdoc.services.docs import office
from ossdoc.services.docs.source import detect


def test_docx_text_is_complete_and_ordered() -> None:
    text = office.extract("docx", make_docx(), "r.docx")
    order = ["Header line", "Title of the report", "First paragraph.", "cell 00\tcell 01", "cell 10\tcell 11",
             "Paragraph after the table.", "Footer line"]  # fmt: skip
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)


def test_docx_tables_text_boxes_and_content_controls_each_once_in_place() -> None:
    # One line per row, cells apart by tabs: a merged cell once (the later rows of a vertical merge hold
    # an empty cell, which keeps the columns), a nested table's rows after its cell's text. The text box
    # follows its paragraph, once though Word stores it twice.
    text = office.extract("docx", make_docx_structures(), "s.docx")
    assert text.split("\n") == [
        "Before the table.",
        "Merged title",
        "North\tQ1\t10",
        "\tQ2\t20",
        "Inner left\tInner right",
        "Total\t\t30",
        "Next to a box",
        "Boxed note",
        "Client: ACME works",
        "Signed by the board.",
        "After the controls.",
    ]


def test_docx_headers_shown_each_once() -> None:
    text = office.extract("docx", make_docx_headers(), "h.docx")
    assert text.split("\n") == [
        "First page header",
        "Running header",
        "Even header",
        "Appendix header",  # the second section's; its even header is the first's, its first-page one unshown
        "Body of section one.",
        "Body of section two.",
        "Running footer",
    ]


def field(code: str, result: str) -> list[str]:
    return [
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r>',
        f'<w:r><w:instrText xml:space="preserve">{code}</w:instrText></w:r>',
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r>',
        f"<w:r><w:t>{result}</w:t></w:r>",
        '<w:r><w:fldChar w:fldCharType="end"/></w:r>',
    ]


def save(document: Any) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_docx_fields_show_their_results_and_deletions_are_gone() -> None:
    # The text as the page shows it with the changes accepted: field results without their codes (the
    # result of a field nested in a code is part of that code), no deleted text, page breaks as lines.
    document = docx.Document()
    paragraph = document.add_paragraph("Old ")
    runs = [
        '<w:del w:id="1" w:author="a"><w:r><w:delText>removed </w:delText></w:r></w:del>',
        '<w:ins w:id="2" w:author="a"><w:r><w:t xml:space="preserve">added text, see </w:t></w:r></w:ins>',
        *field(' HYPERLINK "https://example.com" ', "the site"),
        '<w:r><w:t xml:space="preserve">, page </w:t></w:r>',
        '<w:fldSimple w:instr=" PAGE "><w:r><w:t>7</w:t></w:r></w:fldSimple>',
        '<w:r><w:t xml:space="preserve">; </w:t></w:r>',
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r>',
        "<w:r><w:instrText> IF </w:instrText></w:r>",
        *field(" MERGEFIELD member ", "yes"),
        '<w:r><w:instrText xml:space="preserve"> = "yes" "a member" "" </w:instrText></w:r>',
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r>',
        "<w:r><w:t>a member</w:t></w:r>",
        '<w:r><w:fldChar w:fldCharType="end"/></w:r>',
        '<w:r><w:t>.</w:t><w:br w:type="page"/><w:t>Next page</w:t></w:r>',
    ]
    for xml in runs:
        paragraph._p.append(parse_xml(re.sub(r"^<([\w:]+)", rf"<\1 {nsdecls('w')}", xml)))
    text = office.extract("docx", save(document), "f.docx")
    assert text == "Old added text, see the site, page 7; a member.\nNext page"


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
