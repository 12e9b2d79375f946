"""Signature checks against requests signed by the SDKs' own signers, in-process."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, quote, urlsplit

import oss2
import pytest

from ossdoc import errors
from ossdoc.keys import AccessKey, KeyRing
from ossdoc.wire.auth import SignedRequest, authenticate

KEY_ID, SECRET = "LTAIunit", "unitsecret"
KEYS = KeyRing([AccessKey(KEY_ID, SECRET)])
ENDPOINT = "http://127.0.0.1:9000"


def _from_oss2(req: oss2.http.Request, bucket: str | None, key: str | None) -> SignedRequest:
    url = urlsplit(req.url)
    raw_query = url.query or "&".join(
        f"{quote(k, safe='')}={quote(v, safe='')}" if v else quote(k, safe="") for k, v in req.params.items()
    )
    return SignedRequest(
        method=req.method,
        raw_path=url.path,
        query=parse_qsl(raw_query, keep_blank_values=True),
        headers={k.lower(): v for k, v in req.headers.items()},
        bucket=bucket,
        key=key,
        raw_query=raw_query,
    )


def _signed(auth: oss2.Auth, method: str, bucket: str, key: str, params: dict[str, str]) -> SignedRequest:
    url = f"{ENDPOINT}/{bucket}/{quote(key)}"
    req = oss2.http.Request(method, url, params=dict(params), headers={"Content-Type": "text/plain"})
    req.region = "cn-hangzhou"
    req.product = "oss"
    auth._sign_request(req, bucket, key)
    return _from_oss2(req, bucket, key or None)


CASES = [
    ("GET", "k", {}),
    ("PUT", "a b+c%d/中文", {}),
    ("POST", "k", {"uploads": ""}),
    ("PUT", "k", {"uploadId": "ABC", "partNumber": "1"}),
    ("POST", "k", {"x-oss-process": ""}),
    ("POST", "log", {"append": "", "position": "0"}),
    ("GET", "", {"prefix": "a/b c", "delimiter": "/", "max-keys": "10"}),
]


@pytest.mark.parametrize("auth", [oss2.Auth(KEY_ID, SECRET), oss2.AuthV4(KEY_ID, SECRET)], ids=["v1", "v4"])
@pytest.mark.parametrize(("method", "key", "params"), CASES)
def test_sdk_signed_requests_are_accepted(
    auth: oss2.Auth, method: str, key: str, params: dict[str, str]
) -> None:
    req = _signed(auth, method, "bkt", key, params)
    assert authenticate(req, KEYS, region="cn-hangzhou", now=time.time()) == KEY_ID


@pytest.mark.parametrize("auth", [oss2.Auth(KEY_ID, "wrong"), oss2.AuthV4(KEY_ID, "wrong")], ids=["v1", "v4"])
def test_wrong_secret(auth: oss2.Auth) -> None:
    with pytest.raises(errors.OSSError) as info:
        authenticate(_signed(auth, "GET", "bkt", "k", {}), KEYS, region="cn-hangzhou", now=time.time())
    assert info.value.code == "SignatureDoesNotMatch"
    assert "StringToSign" in info.value.details


@pytest.mark.parametrize(
    "auth", [oss2.Auth("nobody", SECRET), oss2.AuthV4("nobody", SECRET)], ids=["v1", "v4"]
)
def test_unknown_key(auth: oss2.Auth) -> None:
    with pytest.raises(errors.OSSError) as info:
        authenticate(_signed(auth, "GET", "bkt", "k", {}), KEYS, region="cn-hangzhou", now=time.time())
    assert info.value.code == "InvalidAccessKeyId"


@pytest.mark.parametrize("auth", [oss2.Auth(KEY_ID, SECRET), oss2.AuthV4(KEY_ID, SECRET)], ids=["v1", "v4"])
def test_skew(auth: oss2.Auth) -> None:
    req = _signed(auth, "GET", "bkt", "k", {})
    with pytest.raises(errors.OSSError) as info:
        authenticate(req, KEYS, region="cn-hangzhou", now=time.time() + 3600)
    assert info.value.code == "RequestTimeTooSkewed"


def test_tampered_request_is_refused() -> None:
    req = _signed(oss2.Auth(KEY_ID, SECRET), "GET", "bkt", "k", {"acl": ""})
    tampered = SignedRequest(req.method, req.raw_path, [("tagging", "")], req.headers, "bkt", "k", "tagging")
    with pytest.raises(errors.OSSError) as info:
        authenticate(tampered, KEYS, region="cn-hangzhou", now=time.time())
    assert info.value.code == "SignatureDoesNotMatch"


def test_anonymous_and_malformed() -> None:
    plain = SignedRequest("GET", "/bkt/k", [], {}, "bkt", "k")
    assert authenticate(plain, KEYS, region="cn-hangzhou", now=time.time()) is None
    for header in ("Bearer x", "OSS nocolon", "OSS4-HMAC-SHA256 Signature=abc"):
        bad = SignedRequest(
            "GET", "/bkt/k", [], {"authorization": header, "x-oss-date": "20260101T000000Z"}, "bkt", "k"
        )
        with pytest.raises(errors.OSSError) as info:
            authenticate(bad, KEYS, region="cn-hangzhou", now=time.time())
        assert info.value.status in (400, 403)


@pytest.mark.parametrize("auth", [oss2.Auth(KEY_ID, SECRET), oss2.AuthV4(KEY_ID, SECRET)], ids=["v1", "v4"])
def test_presigned_urls(auth: oss2.Auth) -> None:
    bucket = oss2.Bucket(auth, ENDPOINT, "bkt", region="cn-hangzhou")
    url = urlsplit(bucket.sign_url("GET", "dir/中 文", 60))
    req = SignedRequest(
        "GET", url.path, parse_qsl(url.query, keep_blank_values=True), {}, "bkt", "dir/中 文", url.query
    )
    assert authenticate(req, KEYS, region="cn-hangzhou", now=time.time()) == KEY_ID
    with pytest.raises(errors.OSSError) as info:
        authenticate(req, KEYS, region="cn-hangzhou", now=time.time() + 120)
    assert (info.value.code, info.value.message) == ("AccessDenied", "Request has expired.")
    other_key = SignedRequest("GET", url.path, req.query, {}, "bkt", "dir/other", url.query)
    with pytest.raises(errors.OSSError) as info:
        authenticate(other_key, KEYS, region="cn-hangzhou", now=time.time())
    assert info.value.code == "SignatureDoesNotMatch"
