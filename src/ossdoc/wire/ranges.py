"""The Range header as OSS reads it."""

from __future__ import annotations

import re

from ossdoc import errors

_SINGLE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(raw: str | None, size: int, standard: bool) -> tuple[int, int] | None:
    """The byte range [start, end) to return, or None for the whole object.

    OSS ignores a malformed or unsatisfiable range and returns the whole object, unless the client
    sent ``x-oss-range-behavior: standard``, which makes an unsatisfiable range a 416."""
    if not raw:
        return None
    match = _SINGLE.match(raw.strip().replace(" ", ""))
    if not match or not (match.group(1) or match.group(2)):
        return None  # malformed or multi-range: the whole object
    first, last = match.group(1), match.group(2)
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0:
            return _unsatisfiable(standard, size)
        return (max(size - length, 0), size) if size else _unsatisfiable(standard, size)
    start = int(first)
    end = int(last) + 1 if last else size
    if last and int(last) < start:
        return None if not standard else _unsatisfiable(standard, size)
    if start >= size:
        return _unsatisfiable(standard, size)
    return start, min(end, size)


def _unsatisfiable(standard: bool, size: int) -> tuple[int, int] | None:
    if standard:
        err = errors.InvalidRange(ActualObjectSize=str(size))
        err.headers["Content-Range"] = f"bytes */{size}"
        raise err
    return None
