"""The text of a stored object, for document processing without ``content``.

Reads plain text (txt, md, csv, json), html, docx, pptx, xlsx and pdf (its text layer); anything
else gets a clear error naming what the object is. Detection: Content-Type, then the key's
extension, then magic bytes."""

from __future__ import annotations

import asyncio
import codecs
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePosixPath

from ossdoc import errors
from ossdoc.services.docs import office
from ossdoc.services.objects import ObjectStore

TEXT_EXTENSIONS = {".txt": "text", ".md": "text", ".markdown": "text", ".csv": "text", ".json": "text",
                   ".html": "html", ".htm": "html"}  # fmt: skip
TEXT_TYPES = {"text/plain": "text", "text/markdown": "text", "text/csv": "text", "application/json": "text",
              "text/html": "html", "application/xhtml+xml": "html"}  # fmt: skip
MAGIC = {b"PK\x03\x04": "a ZIP archive", b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image",
         b"GIF8": "a GIF image"}  # fmt: skip
GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}


@dataclass(frozen=True)
class StoredDocument:
    key: str
    kind: str  # "text", "html", or one of office.EXTENSIONS' values ("docx", "pdf"...)
    data: bytes


async def stored_document(store: ObjectStore, bucket: str, key: str, limit: int) -> StoredDocument:
    """The object's bytes and what it is; too large, empty or unreadable kinds get InvalidArgument."""
    record = await store.head(bucket, key)
    if record.size == 0:
        raise errors.InvalidArgument(f"The object {key} is empty: there is no text to process.")
    if record.size > limit:
        raise errors.InvalidArgument(
            f"The object {key} is {record.size} bytes; ossdoc processes stored documents of at most "
            f"{limit} bytes."
        )
    data = b"".join([chunk async for chunk in store.read(record)])
    return StoredDocument(key, detect(record.meta.content_type, key, data), data)


async def stored_text(store: ObjectStore, bucket: str, key: str, limit: int) -> str:
    document = await stored_document(store, bucket, key, limit)
    # Parsing an office file or a PDF takes up to a few hundred milliseconds: not on the loop.
    return await asyncio.to_thread(text_of, document)


def text_of(document: StoredDocument) -> str:
    key, kind, data = document.key, document.kind, document.data
    if kind in office.EXTENSIONS.values():
        text = office.extract(kind, data, key)
    else:
        text = decode(data, key)
        if kind == "html":
            text = html_text(text)
    if not text.strip():
        raise errors.InvalidArgument(f"The object {key} holds no text to process.")
    return text


def detect(content_type: str, key: str, data: bytes) -> str:
    media = content_type.split(";")[0].strip().lower()
    if media not in GENERIC_TYPES:
        if media in TEXT_TYPES:
            return TEXT_TYPES[media]
        if media in office.MEDIA_TYPES:
            return office.MEDIA_TYPES[media]
        if not media.startswith("text/"):
            raise _unsupported(key, f"of type {media}")
        return "text"
    suffix = PurePosixPath(key).suffix.lower()
    if suffix in TEXT_EXTENSIONS:
        return TEXT_EXTENSIONS[suffix]
    if suffix in office.EXTENSIONS:
        return office.EXTENSIONS[suffix]
    sniffed = office.sniff(data)
    if sniffed is not None:
        return sniffed
    for magic, what in MAGIC.items():
        if data.startswith(magic):
            raise _unsupported(key, what)
    return "html" if data.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")) else "text"


def decode(data: bytes, key: str) -> str:
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):  # fmt: skip
        if data.startswith(bom):
            return data.decode(encoding)
    if b"\x00" in data[:4096]:
        raise _unsupported(key, "binary data")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _unsupported(key, "not UTF-8 text") from exc


def _unsupported(key: str, what: str) -> errors.OSSError:
    return errors.InvalidArgument(
        f"The object {key} is {what}; ossdoc reads stored txt, md, csv, json, html, docx, pptx, xlsx and pdf "
        "(pass the text in the content parameter otherwise)."
    )


_SKIP = frozenset({"script", "style", "noscript", "template", "head"})
_BLOCKS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "tr",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "blockquote",
        "title",
    }
)


class _TextOfHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            # Line breaks in markup are spaces; only block elements break lines.
            words = " ".join(data.split())
            lead = " " if data[:1].isspace() else ""
            trail = " " if data[-1:].isspace() and words else ""
            self.parts.append(lead + words + trail)


def html_text(markup: str) -> str:
    """Visible text in reading order: one line per block, scripts and styles dropped."""
    parser = _TextOfHTML()
    parser.feed(markup)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)
