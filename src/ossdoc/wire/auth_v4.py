"""OSS signature V4 (OSS4-HMAC-SHA256): a canonical request hashed into a string to sign, signed
with a key derived from the secret, date, region and product of the credential scope."""

from __future__ import annotations

import functools
import hashlib
import hmac
from calendar import timegm
from email.utils import formatdate
from time import strptime
from urllib.parse import quote, unquote_plus

from ossdoc import errors
from ossdoc.wire.signing import (
    MISMATCH,
    KeyStore,
    SignedRequest,
    check_skew,
    matches,
    secret_of,
    signed_headers,
)

ALGORITHM = "OSS4-HMAC-SHA256"
MAX_EXPIRES = 7 * 24 * 3600
DEFAULT_SIGNED = ("content-type", "content-md5")  # besides every x-oss-* header


def canonical_uri(req: SignedRequest) -> str:
    """``/<bucket>/<key>`` from the decoded key, every byte but unreserved ones and ``/`` escaped
    (oss2's ``__v4_uri_encode`` and the v2 SDK's ``quote(uri, safe="/")`` agree), whatever the
    addressing style and however the client escaped the path."""
    return "/" if req.bucket is None else quote(f"/{req.bucket}/{req.key or ''}", safe="/~")


def canonical_queries(req: SignedRequest, exclude: str = "") -> list[str]:
    """oss2 escapes the decoded parameters; the v2 SDK hashes the query as it is on the wire. They
    agree for every query the SDKs build, not for one handed to the v2 signer unescaped (``a/b``)."""
    encoded = sorted((quote(k, safe="~"), quote(v, safe="~")) for k, v in req.query if k != exclude)
    forms = ["&".join(f"{k}={v}" if v else k for k, v in encoded)]
    wire = []
    for pair in req.raw_query.split("&") if req.raw_query else []:
        key, _, value = pair.partition("=")
        if unquote_plus(key) != exclude:
            wire.append((key, value))
    raw = "&".join(f"{k}={v}" if v else k for k, v in sorted(wire))
    return forms if raw == forms[0] else [*forms, raw]


def canonical_requests(req: SignedRequest, additional: list[str], exclude: str = "") -> list[str]:
    headers = signed_headers(req.headers, [*DEFAULT_SIGNED, *additional])
    payload = req.headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
    head = f"{req.method}\n{canonical_uri(req)}\n"
    tail = f"\n{headers}\n{';'.join(additional)}\n{payload}"
    return [head + query + tail for query in canonical_queries(req, exclude)]


# A key is derived anew once a day per secret, region and product: four HMACs each request spared.
@functools.lru_cache(maxsize=256)
def signing_key(secret: str, date: str, region: str, product: str) -> bytes:
    key = hmac.digest(f"aliyun_v4{secret}".encode(), date.encode(), "sha256")
    for part in (region, product, "aliyun_v4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


def parse_time(value: str) -> float:
    try:
        return float(timegm(strptime(value, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        raise errors.AccessDenied("x-oss-date must be an ISO 8601 time like 20250102T150405Z.") from None


def additional_headers(value: str) -> list[str]:
    # oss2 lists them sorted by first letter only; both SDKs hash them fully sorted.
    return sorted({name.strip().lower() for name in value.split(";") if name.strip()})


def _verify(
    req: SignedRequest,
    keys: KeyStore,
    credential: str,
    signature: str,
    when: str,
    additional: list[str],
    exclude: str = "",
) -> str:
    key_id, _, scope = credential.partition("/")
    parts = scope.split("/")
    if not key_id or len(parts) != 4 or parts[3] != "aliyun_v4_request":
        raise errors.InvalidArgument(f"Invalid credential: {credential}", ArgumentName="Credential")
    date, region, product, _ = parts
    if date != when[:8]:
        raise errors.InvalidArgument(
            "The date of the credential scope does not match x-oss-date.", ArgumentName="Credential"
        )
    secret = secret_of(keys, key_id)
    # The key is derived from the region (and product) the client put in its scope, not from the
    # server's own region: a client configured for another region still signs consistently, and an
    # ossdoc answers for whatever region name its clients were given.
    key = signing_key(secret, date, region, product)
    canonical = canonical_requests(req, additional, exclude)
    strings = [f"{ALGORITHM}\n{when}\n{scope}\n{hashlib.sha256(c.encode()).hexdigest()}" for c in canonical]
    if not matches((hmac.digest(key, s.encode(), "sha256").hex() for s in strings), signature):
        raise errors.SignatureDoesNotMatch(
            MISMATCH,
            StringToSign=strings[0],
            CanonicalRequest=canonical[0],
            SignatureProvided=signature,
            OSSAccessKeyId=key_id,
        )
    return key_id


def verify_header(req: SignedRequest, authorization: str, keys: KeyStore, now: float, max_skew: int) -> str:
    # oss2 separates the fields with ", ", the v2 SDK with ",".
    fields: dict[str, str] = {}
    for item in authorization[len(ALGORITHM) :].split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            fields[name] = value
    credential, signature = fields.get("Credential"), fields.get("Signature")
    if not credential or not signature:
        raise errors.InvalidArgument("Authorization header is invalid.", ArgumentName="Authorization")
    when = req.headers.get("x-oss-date", "")
    check_skew(parse_time(when), now, max_skew)
    additional = additional_headers(fields.get("AdditionalHeaders", ""))
    return _verify(req, keys, credential, signature, when, additional)


def verify_query(req: SignedRequest, keys: KeyStore, now: float, max_skew: int) -> str:
    params = dict(req.query)
    credential, signature = params.get("x-oss-credential"), params.get("x-oss-signature")
    when, expires = params.get("x-oss-date", ""), params.get("x-oss-expires", "")
    if not credential or not signature or not when or not expires:
        raise errors.AccessDenied(
            "A presigned URL needs x-oss-credential, x-oss-date, x-oss-expires and x-oss-signature."
        )
    try:
        lifetime = int(expires)
    except ValueError:
        raise errors.AccessDenied("x-oss-expires must be a number of seconds.", Expires=expires) from None
    if lifetime > MAX_EXPIRES:
        raise errors.InvalidArgument(
            f"x-oss-expires must be at most {MAX_EXPIRES} seconds.", ArgumentName="x-oss-expires"
        )
    signed_at = parse_time(when)
    if signed_at - now > max_skew:
        # Signed "in the future": it would stay valid for longer than MAX_EXPIRES.
        check_skew(signed_at, now, max_skew)
    if now > signed_at + lifetime:  # a negative lifetime (oss2 signs one as asked) has expired too
        raise errors.AccessDenied(
            "Request has expired.",
            Expires=formatdate(signed_at + lifetime, usegmt=True),
            ServerTime=formatdate(now, usegmt=True),
        )
    additional = additional_headers(params.get("x-oss-additional-headers", ""))
    return _verify(req, keys, credential, signature, when, additional, exclude="x-oss-signature")
