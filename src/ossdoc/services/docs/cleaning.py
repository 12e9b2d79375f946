"""Removing what small models wrap around a result, without breaking streaming.

Models often answer ``Here is the translation:\\n\\n"…"`` or fence the result in ```` ``` ````, or echo
the ``<text>`` tags of the prompt. The cleaner drops, at the start, such wrappers and a preamble (a
first line opening with a lead word like "Here"/"以下"/an operation's label and reaching a colon),
and at the end the matching closers and whitespace, and a block of notes the model appended after a
blank line ("**Translation Notes:**", "Note:", "注：" and what follows), unless the source has
such a header itself. An opening quotation mark is a wrapper only when the quotation it opens ends
the reply: ``“Hello,” she said.`` and ``「東京」は大きい。`` keep theirs.

Streamed events carry the cumulative text and each must be a prefix of the next, so ``feed``
returns only text that cannot change any more: nothing until the start is decided (the text can no
longer turn into a wrapper or a preamble; a reply that opens with a quotation mark waits until the
quotation ends with words after it, and one that is all a quotation waits to its end), and never
a trailing part that could still be the beginning of a closer or whitespace to strip, nor a
paragraph that is (or may still become) a notes header, with all that follows it. ``finish`` then
removes a subset of what ``feed`` held back, so the final text extends every streamed one."""

from __future__ import annotations

import re
from collections.abc import Iterable

LEADS = (
    "here", "sure", "certainly", "of course", "okay", "below", "voici",
    "以下", "下面", "这是", "这里是", "好的", "当然",
)  # fmt: skip
# A lead word may open a sentence that reaches a colon ("Here is the French translation:"); an
# operation's label ("Translation", "译文") must be followed by its colon within a few characters.
LEAD_WIDTH, LABEL_WIDTH = 100, 16
QUOTES = {'"': '"', "“": "”", "「": "」", "『": "』"}
TAG, TAG_END, FENCE = "<text>", "</text>", "```"
# Trailing pieces held back while streaming: whitespace and any start of one of these.
HELD = (FENCE, TAG_END, *QUOTES.values())


def _alternatives(words: Iterable[str]) -> str:
    """A regular expression of ``words``, each a whole word when it ends in a Latin letter."""
    return "|".join(re.escape(w) + (r"\b" if w[-1].isascii() else "") for w in words)


# Headers of the notes a model appends to a result, at the start of a paragraph: any of NOTES
# followed by a colon, or a translation's own (TRANSLATION_NOTES) in bold or as a heading.
NOTES = (
    "translation notes", "translation note", "translator's notes", "translator's note",
    "translator’s notes", "translator’s note", "notes on the translation", "note on the translation",
    "notes", "note", "explanations", "explanation", "notes du traducteur", "note du traducteur",
    "notes de traduction", "note de traduction", "remarques", "remarque",
    "翻译说明", "翻译注释", "注释", "译注", "注", "翻訳メモ", "訳注", "注記",
)  # fmt: skip
TRANSLATION_NOTES = (*NOTES[:8], *NOTES[12:16], "翻译说明", "翻译注释", "译注", "翻訳メモ", "訳注")
_MARKS = r"(?:[#>*_]+[ \t]*)"
_NOTE_WORDS = _alternatives(NOTES)
_HEADER_WORDS = "|".join(re.escape(w) for w in TRANSLATION_NOTES)
_NOTES_HEADER = re.compile(
    rf"^[ \t]*{_MARKS}*(?:(?:{_NOTE_WORDS})[*_ \t]*[:：]|{_MARKS}+(?:{_HEADER_WORDS})[*_ \t]*$)",
    re.IGNORECASE | re.MULTILINE,
)
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")  # a blank line and the whitespace after it


def _pattern(words: Iterable[str], width: int) -> re.Pattern[str]:
    return re.compile(rf"(?:{_alternatives(words)})[^\n:：]{{0,{width}}}[:：]", re.IGNORECASE)


class Cleaner:
    def __init__(self, source: str, labels: Iterable[str] = ()) -> None:
        labels = tuple(w.lower() for w in labels)
        self._patterns = [_pattern(LEADS, LEAD_WIDTH)] + ([_pattern(labels, LABEL_WIDTH)] if labels else [])
        self._words = [(w, LEAD_WIDTH) for w in LEADS] + [(w, LABEL_WIDTH) for w in labels]
        source = source.strip()
        # A source that itself opens with "Label: ..." keeps its label in the result.
        self._preambles = self._preamble_end(source) == 0
        self._head: tuple[int, tuple[str, ...]] | None = None
        self._notes = _NOTES_HEADER.search(source) is None  # notes at the end are the model's
        self._scanned = 0  # paragraphs before this are no notes (feed checks each token's text)
        # A source that is all one quotation keeps the quotation marks of a result that is too.
        self._quoted = source[:1] in QUOTES and _quotation_end(source) == len(source) - 1

    def feed(self, raw: str) -> str:
        """The cleaned text of ``raw`` (everything generated so far) that is final already."""
        if self._head is None:
            self._head = self._decide_head(raw, final=False)
            if self._head is None:
                return ""
        text = raw[self._head[0] :]
        if self._notes:
            end, self._scanned = self._notes_start(text, final=False, since=self._scanned)
            text = text[:end]
        return _hold_back(text)

    def body(self, raw: str) -> str | None:
        """``raw`` without its wrappers and preamble, nothing held back; None until the start is
        decided (by ``feed``)."""
        return None if self._head is None else raw[self._head[0] :]

    def finish(self, raw: str) -> str:
        """The cleaned text of the complete output."""
        head = self._head or self._decide_head(raw, final=True)
        assert head is not None
        start, closers = head
        return self._strip_end(raw[start:], closers)

    def _strip_end(self, text: str, closers: tuple[str, ...] | list[str]) -> str:
        """``text`` without the notes, closers and whitespace at its end (notes first: a model
        writes them after its closing quotation mark or fence, or before it)."""
        if self._notes:
            text = text[: self._notes_start(text, final=True)[0]]
        text = text.rstrip()
        for closer in (TAG_END, *closers):  # the outer ones first
            if text.endswith(closer):
                text = text[: -len(closer)].rstrip()
        return text

    def _notes_start(self, text: str, final: bool, since: int = 0) -> tuple[int, int]:
        """Where a block of notes starts in ``text`` (its length if none does): at the first
        paragraph after ``since`` that opens with a notes header (or at the rule above it), or, not
        ``final``, the last one that may still become one. And where the next look may start:
        the paragraphs before the last two are decided."""
        rule, breaks = None, [since, since]
        for match in _PARAGRAPH.finditer(text, since):
            paragraph = text[match.end() :]
            if _NOTES_HEADER.match(paragraph) or (not final and _may_become_header(paragraph)):
                start = match.start() if rule is None else rule
                return start, breaks[-1]
            rule = match.start() if _RULE.match(paragraph) else None
            breaks.append(match.start())
        return len(text), breaks[-2]

    def _decide_head(self, raw: str, final: bool) -> tuple[int, tuple[str, ...]] | None:
        """Where the result starts and the closers it should end with; None = not known yet."""
        pos = 0
        closers: list[str] = []
        for _ in range(5):
            rest = raw[pos:].lstrip()
            pos = len(raw) - len(rest)
            if not rest:
                return (pos, tuple(closers)) if final else None
            step = self._wrapper(rest, closers, final)
            if step is None:
                return None
            if not step:
                step = self._preamble(rest, final)
                if step is None:
                    return None
            if not step:
                break
            pos += step
        return pos, tuple(closers)

    def _wrapper(self, rest: str, closers: list[str], final: bool) -> int | None:
        if rest.startswith(FENCE):
            newline = rest.find("\n")
            if newline < 0:
                return len(rest) if final else None
            closers.append(FENCE)
            return newline + 1
        if rest.startswith(TAG):
            closers.append(TAG_END)
            return len(TAG)
        if rest[0] in QUOTES and not self._quoted and not closers.count(QUOTES[rest[0]]):
            wraps = self._wraps(rest, closers, final)
            if wraps:
                closers.append(QUOTES[rest[0]])
                return 1
            return None if wraps is None else 0
        if not final and (FENCE.startswith(rest) or TAG.startswith(rest)):
            return None
        return 0

    def _wraps(self, rest: str, closers: list[str], final: bool) -> bool | None:
        """Whether the quotation ``rest`` opens is the whole reply (only notes, the outer closers
        and whitespace after it); None: not known yet."""
        end = _quotation_end(rest)
        if end is None:
            return False if final else None
        after = rest[end + 1 :]
        if final:
            return not self._strip_end(after, closers)
        if self._notes:
            after = after[: self._notes_start(after, final=False)[0]]
        return None if not _hold_back(after) else False

    def _preamble(self, rest: str, final: bool) -> int | None:
        if not self._preambles:
            return 0
        end = self._preamble_end(rest)
        if end or final:
            return end
        lowered = rest.lower()
        for word, width in self._words:
            if word.startswith(lowered):
                return None  # "He" may become "Here is…"
            if lowered.startswith(word) and "\n" not in rest and len(rest) <= len(word) + width:
                return None  # the colon may still come
        return 0

    def _preamble_end(self, text: str) -> int:
        for pattern in self._patterns:
            match = pattern.match(text)
            if match:
                return match.end()
        return 0


_RULE = re.compile(r"(?:-{3,}|\*{3,}|_{3,})[ \t]*\n[ \t]*\n")  # a paragraph of a rule ("---")
_QUOTE_MARKS = {mark: re.compile(f"[{re.escape(mark + close)}]") for mark, close in QUOTES.items()}
_OPENS_AFTER = "([{“‘«"  # a straight quotation mark after one of these (or a space) opens one


def _quotation_end(text: str) -> int | None:
    """Where the quotation opened by ``text[0]`` closes (nested ones counted); None: not yet.
    Curly and corner marks say which side they are; a straight one opens after a space or a
    bracket, before a word, and closes otherwise."""
    depth = 1
    for mark in _QUOTE_MARKS[text[0]].finditer(text, 1):
        pos = mark.start()
        if mark.group() != '"':
            opens = mark.group() == text[0]
        else:
            before, after = text[pos - 1 : pos], text[pos + 1 : pos + 2]
            opens = (
                (not before or before.isspace() or before in _OPENS_AFTER)
                and bool(after)
                and not after.isspace()
            )
        depth += 1 if opens else -1
        if depth == 0:
            return pos
    return None


_RULE_SO_FAR = re.compile(r"[-*_ \t]+\s*")
_LEADING_MARKS = re.compile(rf"[ \t]*{_MARKS}*")
_LONGEST = max(len(word) for word in NOTES) + 4  # a header word and the marks after it


def _may_become_header(paragraph: str) -> bool:
    """Whether a paragraph's beginning, the end of the text so far, may still open a notes header."""
    if _RULE_SO_FAR.fullmatch(paragraph):
        return True  # a rule ("---") may come before the notes
    if "\n" in paragraph:
        return False
    rest = paragraph[_LEADING_MARKS.match(paragraph).end() :]  # type: ignore[union-attr]
    if len(rest) > _LONGEST:
        return False
    rest = rest.lower()
    for word in NOTES:
        if word.startswith(rest):
            return True  # "Not" may become "Note:"
        if rest.startswith(word) and not rest[len(word) :].strip("*_ \t"):
            return True  # "Note" or "**Notes** " may still reach the colon
    return False


def _hold_back(text: str) -> str:
    while True:
        kept = text.rstrip()
        for piece in HELD:
            for size in range(len(piece), 0, -1):
                if kept.endswith(piece[:size]):
                    kept = kept[:-size]
                    break
            else:
                continue
            break
        if kept == text:
            return kept
        text = kept
