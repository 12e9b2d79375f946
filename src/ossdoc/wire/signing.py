"""What every signature check needs: the request as signed, the key store, shared checks."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Protocol

from ossdoc import errors

MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


class KeyStore(Protocol):
    def secret_for(self, access_key_id: str) -> str | None: ...


@dataclass(frozen=True)
class SignedRequest:
    method: str
    raw_path: str  # percent-encoded path as received, no query
    query: list[tuple[str, str]]  # decoded query parameters in order; a bare ``?uploads`` is ("uploads", "")
    headers: Mapping[str, str]  # lower-cased names
    bucket: str | None
    key: str | None  # decoded
    raw_query: str = ""  # the query string exactly as received


def secret_of(keys: KeyStore, access_key_id: str) -> str:
    secret = keys.secret_for(access_key_id)
    if secret is None:
        raise errors.InvalidAccessKeyId(OSSAccessKeyId=access_key_id)
    return secret


def matches(expected: Iterable[str], given: str) -> bool:
    return any(hmac.compare_digest(candidate.encode(), given.encode()) for candidate in expected)


def check_skew(signed_at: float, now: float, max_skew: int) -> None:
    if abs(now - signed_at) > max_skew:
        raise errors.RequestTimeTooSkewed(
            RequestTime=formatdate(signed_at, usegmt=True),
            ServerTime=formatdate(now, usegmt=True),
            MaxAllowedSkewMilliseconds=str(max_skew * 1000),
        )


def header_text(value: str) -> str:
    """A header value as the client signed it.

    The server reads header bytes as latin-1; the SDKs sign the UTF-8 encoding of their text. oss2
    users send non-ASCII metadata as UTF-8 bytes (it signs those bytes), the v2 SDK sends latin-1 text
    as latin-1 bytes: read the bytes as UTF-8 when they are valid UTF-8, else keep the latin-1 text."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def signed_headers(headers: Mapping[str, str], include: Iterable[str] = ()) -> str:
    """``name:value\\n`` for every x-oss-* header and those named in ``include``, sorted by name."""
    names = set(include)
    return "".join(
        f"{name}:{header_text(value)}\n"
        for name, value in sorted(headers.items())
        if name.startswith("x-oss-") or name in names
    )
