"""Stopping a generation that repeats itself.

Greedy decoding of a small model sometimes falls into a loop: the same sentence or phrase again and
again until the output limit (qwen2.5-coder-0.5b on en→ja, to 2,600 characters). A reply whose tail
is one unit of text followed by LOOP_REPEATS copies of it or more, over LOOP_CHARS characters at
least, is stopped there and keeps the unit once, unless the source itself repeats that unit.

Streamed text cannot be taken back, so a tail that repeats the HOLD_CHARS characters or more a unit
before it (up to MAX_PERIOD characters) is held back until it turns into something else (and goes
out) or into a loop (and is dropped)."""

from __future__ import annotations

from dataclasses import dataclass

MAX_PERIOD = 400  # longest repeated unit looked for, in characters
HOLD_CHARS = 8  # a tail repeating this much of the text a unit before it is held back when streaming
LOOP_REPEATS, LOOP_CHARS = 2, 64  # a unit repeated this often after it, this long, is a loop


@dataclass(frozen=True)
class Repeat:
    """The tail of a text from ``start`` on is one unit of ``period`` characters repeated."""

    start: int
    period: int
    end: int  # the text's length

    kept: int  # where the text ends with the unit once (at a sentence's or a word's end if it can)


def repeated_tail(text: str, min_chars: int, min_repeats: float = 0.0) -> Repeat | None:
    """The tail that repeats what came one unit before it over ``min_chars`` characters at least,
    ``min_repeats`` units after the first at least, and keeps the least text; None if none does."""
    size, best = len(text), None
    probe = text[size - HOLD_CHARS :]
    if size < 2 * HOLD_CHARS:
        return None
    low = max(0, size - MAX_PERIOD - HOLD_CHARS)
    # Each earlier occurrence of the last HOLD_CHARS characters within MAX_PERIOD is a candidate.
    found = text.rfind(probe, low, size - 1)
    while found >= 0:
        period = size - HOLD_CHARS - found
        start = found
        while start >= period and text.startswith(text[start : start + period], start - period):
            start -= period
        while start > 0 and text[start - 1] == text[start - 1 + period]:
            start -= 1
        repeated = size - start - period  # characters that repeat the ones a unit before them
        if repeated >= max(min_chars, min_repeats * period):
            repeat = Repeat(start, period, size, _cut(text, start, period))
            if best is None or repeat.kept < best.kept:
                best = repeat
        found = text.rfind(probe, low, found + HOLD_CHARS - 1)
    return best


ENDS = (".!?。！？\n", " \t、，,;；")  # after a sentence, else after a word


def _cut(text: str, start: int, period: int) -> int:
    """Where to end ``text`` with the unit repeated from ``start`` kept once: after the first
    sentence end (else word end) in its second unit's span, so that the unit kept is the rotation
    that ends there ("。彼は言った" repeated is kept as "彼は言った。")."""
    span = range(start + period, min(len(text), start + 2 * period) + 1)
    for ends in ENDS:
        for cut in span:
            if text[cut - 1] in ends:
                return cut
    return start + period


class LoopGuard:
    """Decides, as a reply grows, how much of it may go out and whether it loops."""

    def __init__(self, source: str) -> None:
        self._source = source.casefold()  # a rewrite may change the case (the tests' fake shouts)

    def release(self, text: str) -> int:
        """How much of ``text`` may be shown: all of it, but a repeated tail's repeats."""
        repeat = repeated_tail(text, HOLD_CHARS)
        return len(text) if repeat is None else repeat.kept

    def loop(self, text: str) -> Repeat | None:
        """The loop ``text`` ends in, if it does (one the source itself has is none)."""
        repeat = repeated_tail(text, LOOP_CHARS, LOOP_REPEATS)
        if repeat is None:
            return None
        period = repeat.period
        units = text[repeat.start : repeat.start + period].casefold() * 3
        if any(units[shift : shift + 2 * period] in self._source for shift in range(period)):
            return None
        return repeat
