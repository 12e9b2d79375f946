"""What every signature check needs: the request as signed, the key store, shared checks."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ossdoc import errors


class KeyStore(Protocol):
    def secret_for(self, access_key_id: str) -> str | None: ...


@dataclass(frozen=True)
class SignedRequest:
    method: str
    raw_path: str  # percent-encoded path as received, no query
    query: list[tuple[str, str]]  # decoded query parameters in order; a bare ``?uploads`` is ("uploads", "")
    headers: Mapping[str, str]  # lower-cased names
    bucket: str | None
    key: str | None
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
        raise errors.RequestTimeTooSkewed(MaxAllowedSkewMilliseconds=str(max_skew * 1000))
