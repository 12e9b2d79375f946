"""HTTP dates and the conditional headers of GetObject, HeadObject and CopyObject."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from email.utils import formatdate, parsedate_to_datetime

from ossdoc import errors
from ossdoc.backends.storage.base import ObjectRecord


def http_date(ts: float | None = None) -> str:
    return _http_date(int(time.time() if ts is None else ts))


# HTTP dates have whole seconds: every reply's Date, and the Last-Modified of the objects read often,
# are formatted once (formatdate costs a few microseconds, a GET of 4 KiB a few hundred).
@functools.lru_cache(maxsize=4096)
def _http_date(seconds: int) -> str:
    return formatdate(seconds, usegmt=True)


def parse_http_date(raw: str | None) -> float | None:
    if not raw:
        return None  # no header: nothing to parse (a failed parse costs an exception)
    try:
        return parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _etag_matches(header: str, etag: str) -> bool:
    wanted = {part.strip().strip('"').upper() for part in header.split(",")}
    return "*" in wanted or etag.upper() in wanted


def evaluate(headers: Mapping[str, str], record: ObjectRecord, prefix: str = "") -> None:
    """Raise PreconditionFailed (412) or NotModified (304) as OSS does.

    ``prefix`` is "" for GET/HEAD and "x-oss-copy-source-" for the source of a copy."""
    modified = int(record.last_modified)
    if_match = headers.get(prefix + "if-match")
    if if_match is not None and not _etag_matches(if_match, record.etag):
        raise errors.PreconditionFailed(Condition=prefix + "If-Match")
    since = parse_http_date(headers.get(prefix + "if-unmodified-since"))
    if if_match is None and since is not None and modified > since:
        raise errors.PreconditionFailed(Condition=prefix + "If-Unmodified-Since")
    if_none = headers.get(prefix + "if-none-match")
    if if_none is not None and _etag_matches(if_none, record.etag):
        raise errors.NotModified()
    since = parse_http_date(headers.get(prefix + "if-modified-since"))
    if if_none is None and since is not None and modified <= since:
        raise errors.NotModified()
