"""A .docx read in reading order, for text extraction (``office``) and for rewriting in place
(``docx_output``).

Stories: the headers a section shows (each part once, however many sections share it), the body, then
the footers. A story is a sequence of blocks: paragraphs and tables, with content controls and custom
XML unwrapped, and each text box's blocks right after the paragraph anchoring it. A table is its cells
row by row, each ``w:tc`` once: a horizontally merged cell is one cell, the later rows of a vertical
merge hold an empty one (their text went into the first). Word stores a DrawingML text box twice, its
VML fallback for older readers; extraction reads the first copy, rewriting both.

A paragraph's text is cut into *segments* at what must stay where it is: fields, inline pictures,
hyperlinks, page breaks; most paragraphs are one segment. Deleted (tracked) text is not read: the text
is the document with its changes accepted. Extraction reads what the page shows, field results included
(a cross-reference, a date, the text of a HYPERLINK field); rewriting leaves fields as they are."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_WP = "{http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing}"
_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
_SETTINGS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/settings"
_HEADER = "application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml"
_FOOTER = "application/vnd.openxmlformats-officedocument.wordprocessingml.footer+xml"
P, R, RPR, T, BR, FLDCHAR = (_W + n for n in ("p", "r", "rPr", "t", "br", "fldChar"))
TBL, TR, TC, TXBX, PTAB = (_W + n for n in ("tbl", "tr", "tc", "txbxContent", "ptab"))
_SYMBOLS = {_W + "tab": "\t", _W + "cr": "\n", _W + "noBreakHyphen": "\u2011", _W + "softHyphen": "\u00ad"}
# Paragraph children holding runs that read as part of the paragraph's text. Each is a segment of its
# own: text moved in or out of a hyperlink (or a tracked insertion) would change what it covers.
_CONTAINERS = {_W + n for n in ("hyperlink", "ins", "moveTo", "smartTag", "customXml", "dir", "bdo", "sdt")}
# Paragraph children with no visible text of their own; any other element with content is a barrier.
_SILENT = {_W + n for n in ("pPr", "del", "moveFrom", "sdtPr", "sdtEndPr", "smartTagPr", "customXmlPr")}
# Run children kept in place that do not cut a segment: a note mark or a floating shape may end up
# after the new text, which is better than translating a sentence in two halves.
_NOTE_MARKS = ("footnoteReference", "endnoteReference", "commentReference", "annotationRef")
_KEPT = {RPR, _W + "lastRenderedPageBreak", *(_W + n for n in _NOTE_MARKS)}
_OFF = {"0", "false", "off"}


@dataclass
class _Piece:
    """The text elements (``w:t``, ``w:tab``, ``w:br``...) of one run that belong to a segment."""

    run: Any
    atoms: list[Any]

    @property
    def text(self) -> str:
        return "".join(_atom_text(atom, shown=True) or "" for atom in self.atoms)


@dataclass
class Segment:
    pieces: list[_Piece]

    @property
    def text(self) -> str:
        return "".join(piece.text for piece in self.pieces)

    def write(self, text: str) -> None:
        """Replace the segment's text, keeping the whitespace around it, in its first run holding text."""
        source = self.text
        text = source[: len(source) - len(source.lstrip())] + text + source[len(source.rstrip()) :]
        target = next((p for p in self.pieces if p.text.strip()), self.pieces[0])
        for piece in self.pieces:
            run = piece.run
            at = run.index(piece.atoms[0])
            for atom in piece.atoms:
                run.remove(atom)
            if piece is target:
                for offset, atom in enumerate(_atoms(text)):
                    run.insert(at + offset, atom)
            elif all(child.tag == RPR for child in run):
                run.getparent().remove(run)
            piece.atoms = []


@dataclass
class Table:
    """Cells row by row; a cell is its blocks (paragraphs, nested tables)."""

    rows: list[list[list[Any]]]


# Stories and blocks ----------------------------------------------------------------------------------


def stories(document: Any, *, unshown: bool = False) -> list[Any]:
    """Root elements of the headers, the body and the footers of a python-docx ``Document``.

    With ``unshown``, also the header and footer parts no section shows (a first-page header with
    "different first page" off), which a rewrite changes too: switched on later, they would show."""
    part = document.part
    try:
        settings = part.part_related_by(_SETTINGS).element
    except KeyError:
        settings = None
    even = settings is not None and _on(settings.find(_W + "evenAndOddHeaders"))
    sections = document.element.body.xpath("./w:p/w:pPr/w:sectPr | ./w:sectPr")
    headers, footers = (_shown(part, sections, kind, even) for kind in ("header", "footer"))
    if unshown:
        every = list(part.package.iter_parts())
        headers += [p for p in every if p.content_type == _HEADER and p not in headers]
        footers += [p for p in every if p.content_type == _FOOTER and p not in footers]
    return [*(p.element for p in headers), document.element.body, *(p.element for p in footers)]


def _shown(part: Any, sections: list[Any], kind: str, even: bool) -> list[Any]:
    """The header (or footer) parts the sections show, in order, each once."""
    current: dict[str, Any] = {}  # a section without its own reference of a type inherits the last one
    shown: list[Any] = []
    for section in sections:
        for reference in section.findall(f"{_W}{kind}Reference"):
            target = part.related_parts.get(reference.get(_R_ID))
            if target is not None:
                current[reference.get(_W + "type")] = target
        types = ["first"] if _on(section.find(_W + "titlePg")) else []
        types += ["default", "even"] if even else ["default"]
        shown += [current[t] for t in types if t in current and current[t] not in shown]
    return shown


def _on(element: Any) -> bool:
    return element is not None and element.get(_W + "val", "true") not in _OFF


def blocks(parent: Any, *, fallback: bool = False) -> Iterator[Any]:
    """The paragraphs (``w:p``) and ``Table``s of a story or a cell, in reading order; text boxes'
    blocks after their paragraph. With ``fallback``, text boxes' fallback copies too."""
    for element in _outermost(parent, {P, TBL}, fallback):
        if element.tag == TBL:
            rows = [list(_outermost(row, {TC}, fallback)) for row in _outermost(element, {TR}, fallback)]
            yield Table([[list(blocks(cell, fallback=fallback)) for cell in row] for row in rows])
        else:
            yield element
            boxes = _outermost(element, {TXBX}, fallback) if element.find(".//" + TXBX) is not None else ()
            for box in boxes:
                yield from blocks(box, fallback=fallback)


def paragraphs(parent: Any, *, fallback: bool = False) -> Iterator[Any]:
    """Every paragraph of ``blocks(parent)``, those in tables included."""
    return _flat(blocks(parent, fallback=fallback))


def _flat(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        if isinstance(item, Table):
            for row in item.rows:
                for cell in row:
                    yield from _flat(cell)
        else:
            yield item


def _outermost(parent: Any, tags: set[str], fallback: bool) -> Iterator[Any]:
    """Descendants with one of ``tags``, not those inside another; through wrappers (content controls,
    custom XML, runs, shapes...), past fallback copies unless asked."""
    for child in parent:
        if child.tag in tags:
            yield child
        elif isinstance(child.tag, str) and (fallback or child.tag != _FALLBACK):  # not a comment
            yield from _outermost(child, tags, fallback)


# Reading a paragraph ---------------------------------------------------------------------------------


def segments(paragraph: Any, *, shown: bool = False) -> list[Segment]:
    """The segments to rewrite, or with ``shown`` all the text the paragraph shows."""
    reader = _Reader(shown)
    reader.walk(paragraph)
    reader.cut()
    return reader.segments


def text(paragraph: Any) -> str:
    """The text a paragraph shows (its text boxes aside)."""
    return "".join(segment.text for segment in segments(paragraph, shown=True))


class _Reader:
    """Segments of one paragraph, in order, cut at every barrier."""

    def __init__(self, shown: bool) -> None:
        self.shown = shown
        self.segments: list[Segment] = []
        self.pieces: list[_Piece] = []
        self.fields: list[bool] = []  # open complex fields (w:fldChar begin … end): past their code?

    def cut(self) -> None:
        if any(piece.atoms for piece in self.pieces):
            self.segments.append(Segment([piece for piece in self.pieces if piece.atoms]))
        self.pieces = []

    def walk(self, parent: Any) -> None:
        for child in parent:
            tag = child.tag
            if tag == R:
                self._run(child)
            elif tag in _CONTAINERS or (self.shown and tag == _W + "fldSimple"):
                self.cut()
                content = child.find(_W + "sdtContent") if tag == _W + "sdt" else child
                if content is not None:
                    self.walk(content)
                self.cut()
            elif tag in _SILENT or not isinstance(tag, str):  # comments and processing instructions
                continue
            elif len(child) or child.text:  # a simple field, an equation, anything unknown with content
                self.cut()

    def _run(self, run: Any) -> None:
        piece = self._piece(run)
        for child in run:
            tag = child.tag
            if tag == FLDCHAR:
                self._field(child.get(_W + "fldCharType"))
                piece = self._cut_at(run)
            elif self.fields and not (self.shown and all(self.fields)):
                continue  # a field's code; when rewriting, its result too
            elif _atom_text(child, self.shown) is not None:
                piece.atoms.append(child)
            elif tag in _KEPT or (tag == _W + "drawing" and child.find(".//" + _WP + "inline") is None):
                continue
            else:  # an inline picture, a page break, a symbol...: it keeps its place between segments
                piece = self._cut_at(run)

    def _field(self, kind: str | None) -> None:
        if kind == "begin":
            self.fields.append(False)
        elif self.fields and kind == "separate":
            self.fields[-1] = True
        elif self.fields and kind == "end":
            self.fields.pop()

    def _piece(self, run: Any) -> _Piece:
        piece = _Piece(run, [])
        self.pieces.append(piece)
        return piece

    def _cut_at(self, run: Any) -> _Piece:
        self.cut()
        return self._piece(run)


def _atom_text(element: Any, shown: bool) -> str | None:
    """The text of a run's text element; None for anything else. Page and column breaks and absolute
    tabs are text when reading what is shown, barriers when rewriting."""
    tag = element.tag
    if tag == T:
        return str(element.text or "")
    if tag == BR:
        return "\n" if shown or element.get(_W + "type") in (None, "textWrapping") else None
    if tag == PTAB:
        return "\t" if shown else None
    return _SYMBOLS.get(tag)


def _atoms(text: str) -> list[Any]:
    from docx.oxml.parser import OxmlElement

    atoms = []
    for part in re.split(r"(\t|\n)", text):
        if part == "\t":
            atoms.append(OxmlElement("w:tab"))
        elif part == "\n":
            atoms.append(OxmlElement("w:br"))
        elif part:
            atom = OxmlElement("w:t")
            atom.text = part
            atom.set(_XML_SPACE, "preserve")
            atoms.append(atom)
    return atoms
