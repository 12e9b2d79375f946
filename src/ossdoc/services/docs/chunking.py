"""Splitting a long document into pieces a model can take, on its own structure.

Pieces end at paragraph breaks where possible, else at sentence ends (CJK punctuation included),
and only a single sentence longer than a whole piece is cut inside. Concatenating the pieces gives
the text back exactly: each keeps the whitespace that followed it, which the processed output of
that piece is followed by too, so paragraphs and line breaks survive."""

from __future__ import annotations

import re

_PARAGRAPHS = re.compile(r"\S.*?(?:\n\s*\n\s*|\Z)", re.S)
_SENTENCES = re.compile(r".+?(?:[.!?;。！？；…]+[\"'”’」』)\]]*(?:\s+|$)|\n\s*|\Z)", re.S)


def split(text: str, max_chars: int, *, paragraphs_alone: bool = False) -> list[str]:
    """Pieces of at most ``max_chars`` characters (plus their trailing whitespace). With
    ``paragraphs_alone``, no piece holds two paragraphs: a small model given several tends to merge
    or drop some, and one at a time its output lines up with the source by construction."""
    leading = text[: len(text) - len(text.lstrip())]
    pieces: list[str] = []
    current = ""
    for paragraph in _PARAGRAPHS.findall(text):
        if paragraphs_alone and current:
            pieces.append(current)
            current = ""
        for unit in [paragraph] if len(paragraph.rstrip()) <= max_chars else _sentences(paragraph, max_chars):
            if current and len(current) + len(unit.rstrip()) > max_chars:
                pieces.append(current)
                current = ""
            current += unit
    if current:
        pieces.append(current)
    if pieces and leading:
        pieces[0] = leading + pieces[0]
    return pieces or [text]


def _sentences(paragraph: str, max_chars: int) -> list[str]:
    units = []
    for sentence in _SENTENCES.findall(paragraph):
        if not sentence:
            continue
        while len(sentence.rstrip()) > max_chars:  # one sentence longer than a piece: cut it
            units.append(sentence[:max_chars])
            sentence = sentence[max_chars:]
        units.append(sentence)
    return units


def separator(piece: str) -> str:
    """The whitespace a piece ends with, to follow its processed output."""
    return piece[len(piece.rstrip()) :]


def tail(text: str, max_chars: int) -> str:
    """The end of ``text`` that fits, starting at a paragraph or sentence boundary if one is near."""
    if len(text) <= max_chars:
        return text
    window = text[-max_chars:]
    for boundary in ("\n\n", "\n", "。", ". ", "！", "? ", "!"):
        at = window.find(boundary)
        if 0 <= at < max_chars // 2:
            return window[at + len(boundary) :].lstrip()
    return window
