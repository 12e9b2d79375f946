"""Processing the stored object itself when a request has no ``content`` (beyond the cloud service)."""

from __future__ import annotations

import codecs
import itertools
import json

import oss2
import pytest

from doc_files import make_docx, make_pdf, make_pptx, make_xlsx, pdf_pages
from doc_http import error_code, make_bucket, post
from ossdoc.services.docs.source import html_text
from ossdoc_server import RunningServer

HTML = """<!doctype html><html><head><title>T</title><style>p {color: red}</style></head>
<body><h1>Heading one</h1><script>var secret = 1;</script><p>First paragraph
 spans lines.</p><ul><li>item a</li><li>item b</li></ul><noscript>no js</noscript>
<p>Last &amp; <b>final</b>.</p></body></html>"""


@pytest.fixture
def bucket(server: RunningServer) -> oss2.Bucket:
    auth = oss2.Auth(server.access_key_id, server.access_key_secret)
    return oss2.Bucket(auth, server.endpoint, make_bucket(server))


def text_of(server: RunningServer, bucket: oss2.Bucket, key: str) -> str:
    reply = post(server, bucket.bucket_name, "x-oss-process=doc/polish", key=key)
    assert reply.status_code == 200, reply.text
    text: str = reply.json()["Output"]["Text"]
    return text


def test_html_text_keeps_reading_order_and_drops_code() -> None:
    assert html_text(HTML) == "Heading one\nFirst paragraph spans lines.\nitem a\nitem b\nLast & final."


@pytest.mark.parametrize(
    ("key", "data", "headers"),
    [
        ("notes.txt", "第一行\nsecond line".encode(), None),
        ("readme.md", b"# Title\n\nSome *markdown*.", None),
        ("table.csv", b"a,b\n1,2", None),
        ("data.json", b'{"k": "value here"}', None),
        ("utf16.txt", codecs.BOM_UTF16_LE + "utf sixteen".encode("utf-16-le"), None),
        ("no-extension", b"plain words", None),
        ("typed", b"typed as text", {"Content-Type": "text/plain; charset=utf-8"}),
    ],
)
def test_text_objects(
    server: RunningServer, bucket: oss2.Bucket, key: str, data: bytes, headers: dict[str, str] | None
) -> None:
    bucket.put_object(key, data, headers=headers)
    expected = data.decode("utf-16") if data.startswith(codecs.BOM_UTF16_LE) else data.decode()
    # The fake backend shouts the prompt back: the document's text must be in it.
    assert expected.upper() in text_of(server, bucket, key)


def test_html_object(server: RunningServer, bucket: oss2.Bucket) -> None:
    bucket.put_object("page.html", HTML.encode())
    text = text_of(server, bucket, "page.html")
    assert "FIRST PARAGRAPH SPANS LINES." in text
    assert "SECRET" not in text and "COLOR" not in text


@pytest.mark.parametrize(
    ("key", "data", "headers", "words"),
    [
        ("doc.pdf", b"%PDF-1.7\n...", None, "PDF"),
        ("cut.pdf", make_pdf(pdf_pages(2, 2))[:-40], None, "not a readable PDF"),
        (
            "locked.pdf",
            make_pdf(pdf_pages(2, 2), user_password="secret"),
            None,
            "encrypted (password-protected) PDF",
        ),
        ("scan.pdf", make_pdf([[]]), None, "no text layer"),
        ("report.docx", b"PK\x03\x04rest", {"Content-Type": "application/octet-stream"}, "readable DOCX"),
        ("archive", b"PK\x03\x04rest", {"Content-Type": "application/octet-stream"}, "ZIP archive"),
        ("blob", bytes(range(256)), None, "binary"),
        ("latin1.txt", "café".encode("latin-1"), None, "not UTF-8"),
        ("image.png", b"\x89PNG\r\n", {"Content-Type": "image/png"}, "image/png"),
        ("empty.txt", b"", None, "empty"),
        ("blank.txt", b"  \n\t ", None, "no text"),
    ],
)
def test_unreadable_objects_get_clear_errors(
    server: RunningServer,
    bucket: oss2.Bucket,
    key: str,
    data: bytes,
    headers: dict[str, str] | None,
    words: str,
) -> None:
    bucket.put_object(key, data, headers=headers)
    reply = post(server, bucket.bucket_name, "x-oss-process=doc/polish", key=key)
    assert reply.status_code == 400
    assert error_code(reply) == "InvalidArgument"
    assert words.lower() in reply.text.lower()


@pytest.mark.parametrize(
    ("key", "data", "expected"),
    [
        ("report.docx", make_docx(), ["TITLE OF THE REPORT", "CELL 10\tCELL 11", "FOOTER LINE"]),
        ("deck.pptx", make_pptx(), ["SLIDE TWO TITLE", "NOTES: SPEAKER NOTES ONE"]),
        ("book.xlsx", make_xlsx(), ["# SALES", "NORTH\t10"]),
    ],
)
def test_office_objects(
    server: RunningServer, bucket: oss2.Bucket, key: str, data: bytes, expected: list[str]
) -> None:
    bucket.put_object(key, data)
    text = text_of(server, bucket, key)
    for part in expected:
        assert part in text


PAGES = pdf_pages(3, 3)


@pytest.mark.parametrize(
    ("key", "data"),
    [
        ("paper.pdf", make_pdf(PAGES)),
        ("columns.pdf", make_pdf(PAGES, columns=2)),
        ("permissions-only.pdf", make_pdf(PAGES, owner_password="owner-secret")),
    ],
)
def test_pdf_objects_every_paragraph_in_order(
    server: RunningServer, bucket: oss2.Bucket, key: str, data: bytes
) -> None:
    bucket.put_object(key, data)
    # The fake backend shouts the prompt back; wrapped lines may come back joined or not.
    text = " ".join(text_of(server, bucket, key).split())
    positions = [text.find(" ".join(p.upper().split())) for page in PAGES for p in page]
    assert -1 not in positions
    assert positions == sorted(positions)


def test_missing_object(server: RunningServer, bucket: oss2.Bucket) -> None:
    reply = post(server, bucket.bucket_name, "x-oss-process=doc/polish", key="nope.txt")
    assert reply.status_code == 404
    assert error_code(reply) == "NoSuchKey"


def test_a_200_kb_document_is_processed_whole(server: RunningServer, bucket: oss2.Bucket) -> None:
    paragraphs = [f"Paragraph {n} tells the story of item {n} in some detail." for n in range(3500)]
    document = "\n\n".join(paragraphs)
    assert len(document.encode()) > 200_000
    bucket.put_object("long.txt", document.encode())
    reply = post(
        server, bucket.bucket_name, "x-oss-process=doc/translate,language_fr_FR", key="long.txt", timeout=120
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["Chunks"] > 1
    text = body["Output"]["Text"]
    # The fake backend shouts each piece back inside its prompt: every paragraph, in order.
    positions = [text.find(p.upper()) for p in paragraphs]
    assert -1 not in positions
    assert positions == sorted(positions)
    summary = post(server, bucket.bucket_name, "x-oss-process=doc/summarize", key="long.txt", timeout=120)
    assert summary.status_code == 200, summary.text
    assert summary.json()["Chunks"] > 1


def test_a_long_document_streams_as_one_sse_reply(server: RunningServer, bucket: oss2.Bucket) -> None:
    document = "\n\n".join(f"Section {n} of a long manual, with enough words to matter." for n in range(2500))
    bucket.put_object("manual.md", document.encode())
    reply = post(
        server,
        bucket.bucket_name,
        "x-oss-process=doc/polish,format_event-stream",
        key="manual.md",
        timeout=120,
    )
    events = [e for e in reply.text.split("\n\n") if e.startswith("id: ")]
    kinds = [e.splitlines()[1] for e in events]
    assert kinds[-1] == "event: Result" and kinds.count("event: Result") == 1
    assert [int(e.splitlines()[0][4:]) for e in events] == list(range(len(events)))
    texts = [json.loads(e.splitlines()[2][6:])["Output"]["Text"] for e in events]
    assert all(b.startswith(a) for a, b in itertools.pairwise(texts))
    assert "SECTION 2499 OF A LONG MANUAL" in texts[-1]
    assert json.loads(events[-1].splitlines()[2][6:])["Chunks"] > 1
