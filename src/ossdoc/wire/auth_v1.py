"""OSS signature V1: HMAC-SHA1 over the verb, Content-MD5, Content-Type, date, x-oss-* headers and
the canonical resource."""

from __future__ import annotations

import base64
import hashlib
import hmac
from email.utils import parsedate_to_datetime

from ossdoc import errors
from ossdoc.wire.signing import KeyStore, SignedRequest, check_skew, matches, secret_of

# Sub-resources that go into the canonical resource, as each SDK signs them.
OSS2_SUBRESOURCES = frozenset(
    [
        "response-content-type",
        "response-content-language",
        "response-cache-control",
        "logging",
        "response-content-encoding",
        "acl",
        "uploadId",
        "uploads",
        "partNumber",
        "group",
        "link",
        "delete",
        "website",
        "location",
        "objectInfo",
        "objectMeta",
        "response-expires",
        "response-content-disposition",
        "cors",
        "lifecycle",
        "restore",
        "qos",
        "referer",
        "stat",
        "bucketInfo",
        "append",
        "position",
        "security-token",
        "live",
        "comp",
        "status",
        "vod",
        "startTime",
        "endTime",
        "x-oss-process",
        "symlink",
        "callback",
        "callback-var",
        "tagging",
        "encryption",
        "versions",
        "versioning",
        "versionId",
        "policy",
        "requestPayment",
        "x-oss-traffic-limit",
        "qosInfo",
        "asyncFetch",
        "x-oss-request-payer",
        "sequential",
        "inventory",
        "inventoryId",
        "continuation-token",
        "worm",
        "wormId",
        "wormExtend",
        "replication",
        "replicationLocation",
        "replicationProgress",
        "transferAcceleration",
        "cname",
        "metaQuery",
        "x-oss-ac-source-ip",
        "x-oss-ac-subnet-mask",
        "x-oss-ac-vpc-id",
        "x-oss-ac-forward-allow",
        "resourceGroup",
        "style",
        "styleName",
        "x-oss-async-process",
        "regionList",
        "x-oss-write-get-object-response",
        "bucketArchiveDirectRead",
        "httpsConfig",
        "redundancyTransition",
        "x-oss-target-redundancy-type",
        "x-oss-redundancy-transition-taskid",
        "accessPoint",
        "accessPointPolicy",
        "publicAccessBlock",
        "x-oss-access-point-name",
        "requesterQosInfo",
        "qosRequester",
        "resourcePoolInfo",
        "resourcePool",
        "resourcePoolBuckets",
    ]
)
V2_SUBRESOURCES = frozenset(
    [
        "acl",
        "bucketInfo",
        "location",
        "stat",
        "delete",
        "append",
        "tagging",
        "objectMeta",
        "uploads",
        "uploadId",
        "partNumber",
        "security-token",
        "position",
        "response-content-type",
        "response-content-language",
        "response-expires",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "restore",
        "callback",
        "callback-var",
        "versions",
        "versioning",
        "versionId",
        "sequential",
        "continuation-token",
        "regionList",
        "cloudboxes",
        "symlink",
        "resourceGroup",
    ]
)


def canonical_resource(req: SignedRequest, subresources: frozenset[str]) -> str:
    resource = "/" if req.bucket is None else f"/{req.bucket}/{req.key or ''}"
    pairs = sorted((k, v) for k, v in req.query if k in subresources)
    if not pairs:
        return resource
    return resource + "?" + "&".join(f"{k}={v}" if v else k for k, v in pairs)


def strings_to_sign(req: SignedRequest, date: str) -> list[str]:
    headers = req.headers
    oss_headers = "".join(f"{k}:{v.strip()}\n" for k, v in sorted(headers.items()) if k.startswith("x-oss-"))
    md5, content_type = headers.get("content-md5", ""), headers.get("content-type", "")
    head = f"{req.method}\n{md5}\n{content_type}\n{date}\n{oss_headers}"
    resources = {canonical_resource(req, OSS2_SUBRESOURCES), canonical_resource(req, V2_SUBRESOURCES)}
    return [head + resource for resource in sorted(resources)]


def sign(secret: str, string_to_sign: str) -> str:
    digest = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _verify(req: SignedRequest, keys: KeyStore, key_id: str, signature: str, date: str) -> str:
    secret = secret_of(keys, key_id)
    candidates = strings_to_sign(req, date)
    if not matches((sign(secret, s) for s in candidates), signature):
        raise errors.SignatureDoesNotMatch(
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            StringToSign=candidates[0],
            OSSAccessKeyId=key_id,
        )
    return key_id


def verify_header(req: SignedRequest, authorization: str, keys: KeyStore, now: float, max_skew: int) -> str:
    key_id, sep, signature = authorization[len("OSS ") :].strip().partition(":")
    if not sep or not key_id or not signature:
        raise errors.InvalidArgument("Authorization header is invalid.", ArgumentName="Authorization")
    date = req.headers.get("x-oss-date") or req.headers.get("date", "")
    try:
        signed_at = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError) as exc:
        raise errors.AccessDenied("OSS authentication requires a valid Date.") from exc
    check_skew(signed_at, now, max_skew)
    return _verify(req, keys, key_id, signature, date)


def verify_query(req: SignedRequest, keys: KeyStore, now: float) -> str:
    params = dict(req.query)
    key_id, expires, signature = params.get("OSSAccessKeyId"), params.get("Expires"), params.get("Signature")
    if not key_id or not expires or not signature:
        raise errors.AccessDenied("A presigned URL needs OSSAccessKeyId, Expires and Signature.")
    try:
        expiry = int(expires)
    except ValueError as exc:
        raise errors.AccessDenied("Expires must be a number of seconds since the epoch.") from exc
    if now > expiry:
        raise errors.AccessDenied("Request has expired.", Expires=expires)
    return _verify(req, keys, key_id, signature, expires)
