"""OSS signature V4 (OSS4-HMAC-SHA256): a canonical request hashed into a string to sign, signed
with a key derived from the secret, date, region and product of the credential scope."""

from __future__ import annotations

import hashlib
import hmac
from calendar import timegm
from time import strptime
from urllib.parse import quote, unquote_plus

from ossdoc import errors
from ossdoc.wire.signing import KeyStore, SignedRequest, check_skew, matches, secret_of

ALGORITHM = "OSS4-HMAC-SHA256"
MAX_EXPIRES = 7 * 24 * 3600


def _signed_header(name: str, additional: set[str]) -> bool:
    return name.startswith("x-oss-") or name in ("content-type", "content-md5") or name in additional


def canonical_queries(req: SignedRequest, exclude: frozenset[str]) -> list[str]:
    """oss2 re-encodes decoded parameters; the v2 SDK signs the query as it is on the wire."""
    decoded = sorted((quote(k, safe="~"), quote(v, safe="~")) for k, v in req.query if k not in exclude)
    forms = ["&".join(f"{k}={v}" if v else k for k, v in decoded)]
    raw_pairs = []
    for pair in req.raw_query.split("&") if req.raw_query else []:
        key, _, value = pair.partition("=")
        if unquote_plus(key) not in exclude:
            raw_pairs.append((key, value))
    raw = "&".join(f"{k}={v}" if v else k for k, v in sorted(raw_pairs))
    if raw not in forms:
        forms.append(raw)
    return forms


def canonical_requests(req: SignedRequest, additional: set[str], exclude: frozenset[str]) -> list[str]:
    uri = "/" if req.bucket is None else f"/{req.bucket}/{req.key or ''}"
    headers = "".join(
        f"{k}:{v.strip()}\n" for k, v in sorted(req.headers.items()) if _signed_header(k, additional)
    )
    payload = req.headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
    path, signed = quote(uri, safe="/~"), ";".join(sorted(additional))
    queries = canonical_queries(req, exclude)
    return [f"{req.method}\n{path}\n{query}\n{headers}\n{signed}\n{payload}" for query in queries]


def signing_key(secret: str, date: str, region: str, product: str) -> bytes:
    key = hmac.new(f"aliyun_v4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, product, "aliyun_v4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _parse_time(value: str) -> float:
    try:
        return float(timegm(strptime(value, "%Y%m%dT%H%M%SZ")))
    except ValueError as exc:
        raise errors.AccessDenied("x-oss-date must look like 20060102T150405Z.") from exc


def _verify(
    req: SignedRequest,
    keys: KeyStore,
    credential: str,
    signature: str,
    when: str,
    additional: set[str],
    exclude: frozenset[str],
) -> str:
    key_id, _, scope = credential.partition("/")
    parts = scope.split("/")
    if len(parts) != 4 or parts[3] != "aliyun_v4_request" or not key_id:
        raise errors.InvalidArgument("The credential scope is invalid.", ArgumentName="Credential")
    date, region, product, _ = parts
    secret = secret_of(keys, key_id)
    # The key is derived from the region the client put in its scope, so a client configured for
    # another region still authenticates, as its signature is internally consistent.
    key = signing_key(secret, date, region, product)
    canonical = canonical_requests(req, additional, exclude)
    strings = [f"{ALGORITHM}\n{when}\n{scope}\n{hashlib.sha256(c.encode()).hexdigest()}" for c in canonical]
    expected = [hmac.new(key, s.encode(), hashlib.sha256).hexdigest() for s in strings]
    if not matches(expected, signature):
        raise errors.SignatureDoesNotMatch(
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            StringToSign=strings[0],
            CanonicalRequest=canonical[0],
            OSSAccessKeyId=key_id,
        )
    return key_id


def verify_header(req: SignedRequest, authorization: str, keys: KeyStore, now: float, max_skew: int) -> str:
    fields: dict[str, str] = {}
    for item in authorization[len(ALGORITHM) :].split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            fields[name] = value
    credential, signature = fields.get("Credential"), fields.get("Signature")
    if not credential or not signature:
        raise errors.InvalidArgument("Authorization header is invalid.", ArgumentName="Authorization")
    when = req.headers.get("x-oss-date", "")
    check_skew(_parse_time(when), now, max_skew)
    additional = {h.strip().lower() for h in fields.get("AdditionalHeaders", "").split(";") if h.strip()}
    return _verify(req, keys, credential, signature, when, additional, frozenset())


def verify_query(req: SignedRequest, keys: KeyStore, now: float) -> str:
    params = dict(req.query)
    credential, signature = params.get("x-oss-credential"), params.get("x-oss-signature")
    when, expires = params.get("x-oss-date", ""), params.get("x-oss-expires", "")
    if not credential or not signature or not when or not expires.isdigit():
        raise errors.AccessDenied(
            "A presigned URL needs x-oss-credential, x-oss-date, x-oss-expires and x-oss-signature."
        )
    if int(expires) > MAX_EXPIRES:
        raise errors.InvalidArgument("x-oss-expires must be at most 7 days.", ArgumentName="x-oss-expires")
    if now > _parse_time(when) + int(expires):
        raise errors.AccessDenied("Request has expired.", Expires=expires)
    additional = {
        h.strip().lower() for h in params.get("x-oss-additional-headers", "").split(";") if h.strip()
    }
    return _verify(req, keys, credential, signature, when, additional, frozenset({"x-oss-signature"}))
