"""Where a sentence ends, to cut a generated text there.

A full stop, question or exclamation mark (with the quotation marks and brackets that close after
it) ends a sentence when a space and then a word not in lower case follow; a CJK one (。！？) needs
neither. A single full stop after a title ("Mr.", "Dr.", "M."), an initial ("J. K. Rowling"), a
dotted abbreviation ("U.S.", "e.g.") or a list's number at the start of a line ("3. The") does not
end one, nor one after "No."/"Jan."/"p." before a number: the non-breaking prefixes of the Moses
tokenizer's sentence splitter, for English and French, in small. A missed end lets the text run to
the next one; a false one would cut a sentence in two, so where it is unsure it goes on."""

from __future__ import annotations

import re
from collections.abc import Iterator

# Words that a full stop follows without ending the sentence (compared in lower case).
TITLES = frozenset({
    "mr", "mrs", "ms", "messrs", "dr", "drs", "prof", "st", "mt", "sr", "jr", "gen", "col", "lt", "maj",
    "capt", "cmdr", "adm", "sgt", "cpl", "pvt", "gov", "sen", "sens", "rep", "reps", "rev", "hon", "pres",
    "supt", "insp", "det", "bros", "vs", "mme", "mlle", "mmes", "mlles", "mgr", "cf", "ph",
})  # fmt: skip
# ...and those that it does not end before a number ("No. 10", "Jan. 5", "p. 12").
BEFORE_NUMBER = frozenset({
    "no", "nos", "nr", "art", "pp", "vol", "fig", "ch", "sec", "op",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
})  # fmt: skip
_CJK_STOPS = "。！？"
_CANDIDATE = re.compile(r"[.!?…]+(?:[\"'”’)\]]|[ \u00a0\u202f]?»)*|[。！？]+[”’」』）]*")
_NEXT = re.compile(r"\s+(\S)")
_DOTTED = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")  # U.S, e.g, a.m (the last full stop is the candidate's)
_OPENING = "\"'“‘([«"


def sentence_ends(text: str, start: int = 0) -> Iterator[int]:
    """The ends of the sentences of ``text`` at or after ``start`` (each just after its closing
    punctuation). An end needs the first character of the next word: at the end of a text still
    growing, it is not known yet."""
    for match in _CANDIDATE.finditer(text, start):
        if match.group()[0] in _CJK_STOPS:
            yield match.end()
            continue
        following = _NEXT.match(text, match.end())
        if following is None:
            continue
        first = following.group(1)
        if first.islower() or (match.group() == "." and _abbreviation(text, match.start(), first)):
            continue
        yield match.end()


def _abbreviation(text: str, stop: int, first: str) -> bool:
    """Whether the full stop at ``stop``, with ``first`` the next word's first character, ends an
    abbreviation rather than a sentence."""
    begin = stop
    while begin > 0 and not text[begin - 1].isspace():
        begin -= 1
    word = text[begin:stop].lstrip(_OPENING)
    lowered = word.lower()
    if lowered in TITLES or (lowered in BEFORE_NUMBER and first.isdigit()):
        return True
    if len(word) == 1 and word.isalpha():
        return True  # an initial
    if _DOTTED.fullmatch(word):
        return True
    # A list's number opening its line: "1. The first point."
    return word.isdigit() and not text[text.rfind("\n", 0, begin) + 1 : begin].strip()
