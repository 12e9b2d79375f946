"""Signature checks against requests the SDKs sign themselves.

Each request is captured at the ``requests`` adapter, as it would go on the wire, and read back the
way the app reads one (path and query as received, bucket and key from ``addressing.resolve``), so
these tests fail whenever the server's canonical forms drift from what oss2 or alibabacloud-oss-v2
compute."""

from __future__ import annotations

import ast
import datetime
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import alibabacloud_oss_v2 as oss
import oss2
import pytest
import requests
import requests.adapters
from alibabacloud_oss_v2.signer import SignerV1, SignerV4
from alibabacloud_oss_v2.transport import RequestsHttpClient

from ossdoc import errors
from ossdoc.keys import AccessKey, KeyRing
from ossdoc.wire import addressing, auth_subresources
from ossdoc.wire.auth import SignedRequest, authenticate

KEY_ID, SECRET, REGION = "LTAIunittest", "unit-test-secret", "cn-hangzhou"
KEYS = KeyRing.fixed([AccessKey(KEY_ID, SECRET), AccessKey("LTAIother", "other-secret")])
BASE_DOMAIN = "localhost"
ENDPOINT = "http://localhost:9000"  # virtual-hosted: bkt.localhost:9000
BUCKET_URL = "http://bkt.localhost:9000"
PATH_ENDPOINT = "http://127.0.0.1:9000"  # an IP: path style
BUCKET = "bkt"
TRICKY_KEYS = [
    "plain.txt",
    "dir/sub/file",
    "a b  c",
    "100%.txt",
    "%41%2F",
    "a+b",
    "中文/文件 名.txt",
    "a=b&c?d#e",
    "~tilde*'()!$,;:@",
    "trailing/",
    "/leading",
    "../up",
]


class Capture(requests.adapters.BaseAdapter):
    """Records what the SDK would send, then fails the send so that nothing leaves the process."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        raise requests.ConnectionError("captured")

    def close(self) -> None:
        pass


def received(prepared: requests.PreparedRequest) -> SignedRequest:
    """The request as the app sees it: headers are latin-1 text, query decoded as by parse_qsl."""
    url = urlsplit(prepared.url or "")
    raw_path = url.path or "/"
    bucket, key = addressing.resolve(url.netloc, raw_path.encode("latin-1"), BASE_DOMAIN)
    headers = {
        name.lower(): value.decode("latin-1") if isinstance(value, bytes) else value
        for name, value in prepared.headers.items()
    }
    return SignedRequest(
        method=prepared.method or "GET",
        raw_path=raw_path,
        query=parse_qsl(url.query, keep_blank_values=True),
        headers=headers,
        bucket=bucket,
        key=key,
        raw_query=url.query,
    )


def from_url(method: str, url: str, headers: Mapping[str, str] | None = None) -> SignedRequest:
    """What a plain HTTP client sends for a presigned URL."""
    return received(requests.Request(method, url, headers=dict(headers or {})).prepare())


def check(req: SignedRequest, *, now: float | None = None, max_skew: int = 900) -> str | None:
    return authenticate(req, KEYS, region=REGION, now=time.time() if now is None else now, max_skew=max_skew)


def refused(req: SignedRequest, *, now: float | None = None, max_skew: int = 900) -> errors.OSSError:
    with pytest.raises(errors.OSSError) as info:
        check(req, now=now, max_skew=max_skew)
    return info.value


def _replace(req: SignedRequest, **changes: Any) -> SignedRequest:
    return SignedRequest(**{**vars(req), **changes})


# oss2 ----------------------------------------------------------------------------------------------

Oss2Call = Callable[[oss2.Bucket], object]


def oss2_auth(version: str, key_id: str = KEY_ID, secret: str = SECRET) -> oss2.Auth:
    return oss2.Auth(key_id, secret) if version == "v1" else oss2.AuthV4(key_id, secret)


def oss2_bucket(auth: oss2.Auth, capture: Capture, endpoint: str = ENDPOINT) -> oss2.Bucket:
    session = oss2.Session(adapter=capture)
    return oss2.Bucket(auth, endpoint, BUCKET, session=session, region=REGION)


def oss2_sent(call: Oss2Call, version: str = "v1", **auth: str) -> SignedRequest:
    capture = Capture()
    with pytest.raises(oss2.exceptions.RequestError):
        call(oss2_bucket(oss2_auth(version, **auth), capture))
    return received(capture.sent[-1])


def list_buckets_oss2(bucket: oss2.Bucket) -> object:
    return oss2.Service(bucket.auth, bucket.endpoint, session=bucket.session, region=REGION).list_buckets()


OSS2_CALLS: dict[str, Oss2Call] = {
    "list buckets": list_buckets_oss2,
    "create bucket": lambda b: b.create_bucket(),
    "bucket ?acl": lambda b: b.get_bucket_acl(),
    "bucket ?bucketInfo": lambda b: b.get_bucket_info(),
    "bucket ?location": lambda b: b.get_bucket_location(),
    "list objects": lambda b: b.list_objects(prefix="a/b c+d~*", delimiter="/", marker="m%"),
    "list objects v2": lambda b: b.list_objects_v2(prefix="中", continuation_token="tok/en=="),
    "bucket ?uploads": lambda b: b.list_multipart_uploads(prefix="p"),
    "bucket ?delete": lambda b: b.batch_delete_objects(["a", "b c", "中"]),
    "object ?uploads": lambda b: b.init_multipart_upload("big file"),
    "?uploadId&partNumber": lambda b: b.upload_part("big file", "UP/ID+1=", 3, b"part"),
    "complete ?uploadId": lambda b: b.complete_multipart_upload("k", "UPID", [oss2.models.PartInfo(1, "E")]),
    "abort ?uploadId": lambda b: b.abort_multipart_upload("k", "UPID"),
    "list parts": lambda b: b.list_parts("k", "UPID", marker="2"),
    "?append&position=0": lambda b: b.append_object("log", 0, b"line"),
    "object ?acl": lambda b: b.put_object_acl("k", oss2.OBJECT_ACL_PUBLIC_READ),
    "object ?tagging": lambda b: b.put_object_tagging("k", oss2.models.Tagging(oss2.models.TaggingRule())),
    "get ?x-oss-process": lambda b: b.get_object("k", process="doc/summarize,lang_en"),
    "post ?x-oss-process": lambda b: b.process_object("k", "doc/translate,lang_zh"),
    "response-content-type": lambda b: b.get_object("k", params={"response-content-type": "text/a b"}),
    "versionId": lambda b: b.delete_object("k", params={"versionId": "v1"}),
    "range": lambda b: b.get_object("k", byte_range=(0, 9)),
    "copy": lambda b: b.copy_object(BUCKET, "src key", "dst"),
    "metadata": lambda b: b.put_object(
        "k", b"data", headers={"Content-Type": "text/plain", "x-oss-meta-note": "a  b"}
    ),
    "utf-8 metadata": lambda b: b.put_object("k", b"", headers={"x-oss-meta-author": "作者".encode()}),
    "content-md5": lambda b: b.put_object(
        "k", b"data", headers={"Content-MD5": oss2.utils.content_md5(b"data")}
    ),
}


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("call", OSS2_CALLS.values(), ids=OSS2_CALLS.keys())
def test_oss2_requests_are_accepted(version: str, call: Oss2Call) -> None:
    assert check(oss2_sent(call, version)) == KEY_ID


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_oss2_keys_are_accepted(version: str, key: str) -> None:
    req = oss2_sent(lambda b: b.put_object(key, b"x"), version)
    assert req.key == key  # oss2 escapes "/" too, so even "../up" arrives intact
    assert check(req) == KEY_ID


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss2_path_style(version: str) -> None:
    capture = Capture()
    bucket = oss2_bucket(oss2_auth(version), capture, PATH_ENDPOINT)
    with pytest.raises(oss2.exceptions.RequestError):
        bucket.put_object("中 文", b"x")
    req = received(capture.sent[-1])
    assert (req.raw_path, req.bucket, req.key) == ("/bkt/%E4%B8%AD%20%E6%96%87", BUCKET, "中 文")
    assert check(req) == KEY_ID


# alibabacloud-oss-v2 ---------------------------------------------------------------------------------

V2Call = Callable[[oss.Client], object]


def v2_client(
    version: str,
    capture: Capture | None = None,
    *,
    key_id: str = KEY_ID,
    secret: str = SECRET,
    region: str = REGION,
    endpoint: str = ENDPOINT,
    path_style: bool = False,
) -> oss.Client:
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(key_id, secret)
    cfg.region = region
    cfg.endpoint = endpoint
    cfg.signature_version = version
    cfg.use_path_style = path_style
    cfg.retry_max_attempts = 1
    if capture is not None:
        cfg.http_client = RequestsHttpClient(adapter=capture)
    return oss.Client(cfg)


def v2_sent(call: V2Call, version: str = "v4", **options: Any) -> SignedRequest:
    capture = Capture()
    with pytest.raises(oss.exceptions.OperationError):
        call(v2_client(version, capture, **options))
    return received(capture.sent[-1])


V2_CALLS: dict[str, V2Call] = {
    "list buckets": lambda c: c.list_buckets(oss.ListBucketsRequest(prefix="b")),
    "create bucket": lambda c: c.put_bucket(oss.PutBucketRequest(bucket=BUCKET)),
    "bucket ?acl": lambda c: c.get_bucket_acl(oss.GetBucketAclRequest(bucket=BUCKET)),
    "bucket ?bucketInfo": lambda c: c.get_bucket_info(oss.GetBucketInfoRequest(bucket=BUCKET)),
    "bucket ?location": lambda c: c.get_bucket_location(oss.GetBucketLocationRequest(bucket=BUCKET)),
    "list objects": lambda c: c.list_objects(
        oss.ListObjectsRequest(bucket=BUCKET, prefix="a/b c+d~*", delimiter="/", marker="m%")
    ),
    "list objects v2": lambda c: c.list_objects_v2(
        oss.ListObjectsV2Request(bucket=BUCKET, prefix="中", continuation_token="tok/en==")
    ),
    "bucket ?uploads": lambda c: c.list_multipart_uploads(
        oss.ListMultipartUploadsRequest(bucket=BUCKET, prefix="p")
    ),
    "bucket ?delete": lambda c: c.delete_multiple_objects(
        oss.DeleteMultipleObjectsRequest(
            bucket=BUCKET, objects=[oss.DeleteObject(key="a"), oss.DeleteObject(key="b c")]
        )
    ),
    "bucket ?cors": lambda c: c.get_bucket_cors(oss.GetBucketCorsRequest(bucket=BUCKET)),
    "object ?uploads": lambda c: c.initiate_multipart_upload(
        oss.InitiateMultipartUploadRequest(bucket=BUCKET, key="big file")
    ),
    "?uploadId&partNumber": lambda c: c.upload_part(
        oss.UploadPartRequest(bucket=BUCKET, key="big file", upload_id="UP/ID+1=", part_number=3, body=b"p")
    ),
    "complete ?uploadId": lambda c: c.complete_multipart_upload(
        oss.CompleteMultipartUploadRequest(bucket=BUCKET, key="k", upload_id="UPID", complete_all="yes")
    ),
    "abort ?uploadId": lambda c: c.abort_multipart_upload(
        oss.AbortMultipartUploadRequest(bucket=BUCKET, key="k", upload_id="UPID")
    ),
    "?append&position=0": lambda c: c.append_object(
        oss.AppendObjectRequest(bucket=BUCKET, key="log", position=0, body=b"line")
    ),
    "object ?acl": lambda c: c.put_object_acl(
        oss.PutObjectAclRequest(bucket=BUCKET, key="k", acl="public-read")
    ),
    "object ?tagging": lambda c: c.put_object_tagging(
        oss.PutObjectTaggingRequest(
            bucket=BUCKET,
            key="k",
            tagging=oss.Tagging(tag_set=oss.TagSet(tags=[oss.Tag(key="a", value="b c")])),
        )
    ),
    "get ?x-oss-process": lambda c: c.get_object(
        oss.GetObjectRequest(bucket=BUCKET, key="k", process="doc/summarize,lang_en")
    ),
    "post ?x-oss-process": lambda c: c.process_object(
        oss.ProcessObjectRequest(bucket=BUCKET, key="k", process="doc/translate,lang_zh")
    ),
    "response-content-type": lambda c: c.get_object(
        oss.GetObjectRequest(bucket=BUCKET, key="k", response_content_type="text/a b")
    ),
    "versionId": lambda c: c.delete_object(oss.DeleteObjectRequest(bucket=BUCKET, key="k", version_id="v1")),
    "range": lambda c: c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="k", range_header="bytes=0-9")),
    "copy": lambda c: c.copy_object(oss.CopyObjectRequest(bucket=BUCKET, key="dst", source_key="src key")),
    "metadata": lambda c: c.put_object(
        oss.PutObjectRequest(
            bucket=BUCKET, key="k", body=b"data", content_type="text/plain", metadata={"note": "n"}
        )
    ),
    "latin-1 metadata": lambda c: c.put_object(
        oss.PutObjectRequest(bucket=BUCKET, key="k", body=b"", metadata={"author": "Zoë"})
    ),
}


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("call", V2_CALLS.values(), ids=V2_CALLS.keys())
def test_v2_requests_are_accepted(version: str, call: V2Call) -> None:
    assert check(v2_sent(call, version)) == KEY_ID


def _v2_put(key: str) -> V2Call:
    return lambda c: c.put_object(oss.PutObjectRequest(bucket=BUCKET, key=key, body=b"x"))


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("key", [k for k in TRICKY_KEYS if k != "../up"])
def test_v2_keys_are_accepted(version: str, key: str) -> None:
    req = v2_sent(_v2_put(key), version)
    assert req.key == key
    assert check(req) == KEY_ID


def test_v2_dot_segments_are_lost_before_the_wire() -> None:
    # The v2 SDK leaves "/" unescaped in the path and urllib3 then removes "..": the request reaches
    # another object than the one signed, and no server can accept it.
    req = v2_sent(_v2_put("a/../up"), "v4", path_style=True, endpoint=PATH_ENDPOINT)
    assert (req.raw_path, req.key) == ("/bkt/up", "up")
    assert refused(req).code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_v2_path_style(version: str) -> None:
    req = v2_sent(_v2_put("中 文/x"), version, path_style=True, endpoint=PATH_ENDPOINT)
    assert (req.raw_path, req.bucket, req.key) == ("/bkt/%E4%B8%AD%20%E6%96%87/x", BUCKET, "中 文/x")
    assert check(req) == KEY_ID


def test_v4_scope_region_is_the_clients() -> None:
    # A client configured for another region signs with that region in its scope; the key is derived
    # from the scope, so the request is accepted (see auth_v4).
    req = v2_sent(V2_CALLS["bucket ?acl"], "v4", region="cn-shanghai")
    assert "/cn-shanghai/oss/aliyun_v4_request" in req.headers["authorization"]
    assert check(req) == KEY_ID


# Signers driven directly, with a fixed signing time -------------------------------------------------


def signed_directly(
    signer: SignerV1 | SignerV4,
    *,
    secret: str = SECRET,
    at: datetime.datetime | None = None,
    url: str = f"{BUCKET_URL}/k?acl",
    method: str = "GET",
    key: str | None = "k",
    headers: Mapping[str, str] | None = None,
    additional_headers: set[str] | None = None,
    query: bool = False,
) -> tuple[SignedRequest, str]:
    request = oss.HttpRequest(method=method, url=url, headers=dict(headers or {}))
    context = oss.SigningContext(
        product="oss",
        region=REGION,
        bucket=BUCKET,
        key=key,
        request=request,
        credentials=oss.credentials.Credentials(KEY_ID, secret),
        signing_time=at,
        additional_headers=additional_headers,
    )
    context.auth_method_query = query
    if query and at is not None:
        context.expiration_time = at + datetime.timedelta(seconds=60)
    signer.sign(context)
    return from_url(method, request.url, dict(request.headers)), context.string_to_sign


@pytest.mark.parametrize("signer", [SignerV1(), SignerV4()], ids=["v1", "v4"])
def test_wrong_secret_reports_the_string_to_sign(signer: SignerV1 | SignerV4) -> None:
    req, string_to_sign = signed_directly(signer, secret="not-the-secret")
    err = refused(req)
    assert (err.code, err.status) == ("SignatureDoesNotMatch", 403)
    assert err.details["StringToSign"] == string_to_sign
    if isinstance(signer, SignerV4):
        assert err.details["CanonicalRequest"].startswith("GET\n/bkt/k\nacl\n")


def test_v4_additional_headers() -> None:
    # (alibabacloud-oss-v2 1.4.1 never hands Config.additional_headers to its signer: drive it here.)
    headers = {"Range": "bytes=0-9", "User-Agent": "ua", "x-oss-meta-a": "b"}
    additional = {"Range", "user-agent", "x-oss-meta-a", "content-type", "absent"}
    req, _ = signed_directly(SignerV4(), headers=headers, additional_headers=additional)
    assert "AdditionalHeaders=range;user-agent," in req.headers["authorization"]
    assert check(req) == KEY_ID
    assert refused(_replace(req, headers={**req.headers, "range": "bytes=0-99"})).code == (
        "SignatureDoesNotMatch"
    )
    url, _ = signed_directly(SignerV4(), headers=headers, additional_headers=additional, query=True)
    assert "x-oss-additional-headers=range%3Buser-agent" in url.raw_query
    assert check(url) == KEY_ID


@pytest.mark.parametrize("signer", [SignerV1(), SignerV4()], ids=["v1", "v4"])
def test_skew(signer: SignerV1 | SignerV4) -> None:
    signed_at = datetime.datetime(2025, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)
    req, _ = signed_directly(signer, at=signed_at)
    t = signed_at.timestamp()
    assert check(req, now=t + 899) == KEY_ID
    assert check(req, now=t - 899) == KEY_ID
    for now in (t + 901, t - 901):
        err = refused(req, now=now)
        assert (err.code, err.status) == ("RequestTimeTooSkewed", 403)
    assert refused(req, now=t + 100, max_skew=60).code == "RequestTimeTooSkewed"


@pytest.fixture
def eastern_timezone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC+8, so that a date read as local time is eight hours off."""
    monkeypatch.setenv("TZ", "CST-8")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    "x_oss_date",
    ["Tue, 04 Mar 2025 05:06:07 GMT", "Tue, 04 Mar 2025 05:06:07 -0000", "20250304T050607Z"],
)
def test_v1_x_oss_date_replaces_date(x_oss_date: str, eastern_timezone: None) -> None:
    # Both SDKs sign x-oss-date instead of Date when the request carries one.
    req, string_to_sign = signed_directly(SignerV1(), headers={"x-oss-date": x_oss_date})
    assert f"\n{x_oss_date}\nx-oss-date:" in string_to_sign
    t = datetime.datetime(2025, 3, 4, 5, 6, 7, tzinfo=datetime.UTC).timestamp()
    assert check(req, now=t + 600) == KEY_ID
    assert refused(req, now=t + 1000).code == "RequestTimeTooSkewed"
    assert refused(req, now=t - 1000).code == "RequestTimeTooSkewed"


def test_v4_scope_date_must_be_the_date_of_x_oss_date() -> None:
    signed_at = datetime.datetime(2025, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)
    req, _ = signed_directly(SignerV4(), at=signed_at)
    next_day = _replace(req, headers={**req.headers, "x-oss-date": "20250305T050607Z"})
    assert refused(next_day, now=signed_at.timestamp() + 86400).code == "InvalidArgument"


def test_v4_query_exactly_as_on_the_wire() -> None:
    # The v2 signer hashes the query it is given, escaped or not; requests sends "/" and "~" as they are.
    req, _ = signed_directly(SignerV4(), url=f"{BUCKET_URL}/k?prefix=a/b~&marker=x%2Fy&list-type=2")
    assert req.raw_query == "prefix=a/b~&marker=x%2Fy&list-type=2"
    assert check(req) == KEY_ID
    oss2_form = _replace(req, raw_query="")  # only oss2's form left: it escapes "/"
    assert refused(oss2_form).code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_skew_of_sdk_requests(version: str) -> None:
    assert refused(oss2_sent(OSS2_CALLS["bucket ?acl"], version), now=time.time() + 3600).code == (
        "RequestTimeTooSkewed"
    )
    assert refused(v2_sent(V2_CALLS["bucket ?acl"], version), now=time.time() - 3600).code == (
        "RequestTimeTooSkewed"
    )


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_wrong_secret_and_unknown_key(version: str) -> None:
    call = OSS2_CALLS["object ?uploads"]
    assert refused(oss2_sent(call, version, secret="wrong")).code == "SignatureDoesNotMatch"
    err = refused(oss2_sent(call, version, key_id="LTAInobody"))
    assert (err.code, err.status) == ("InvalidAccessKeyId", 403)
    assert refused(v2_sent(V2_CALLS["object ?uploads"], version, secret="wrong")).code == (
        "SignatureDoesNotMatch"
    )
    assert refused(v2_sent(V2_CALLS["object ?uploads"], version, key_id="LTAInobody")).code == (
        "InvalidAccessKeyId"
    )
    # Another known key's id with this key's signature.
    assert refused(oss2_sent(call, version, key_id="LTAIother")).code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_tampered_requests_are_refused(version: str) -> None:
    req = oss2_sent(OSS2_CALLS["object ?acl"], version)
    assert check(req) == KEY_ID
    for tampered in (
        _replace(req, method="DELETE"),
        _replace(req, key="other"),
        _replace(req, bucket="other"),
        _replace(req, query=[("tagging", "")], raw_query="tagging"),
        _replace(req, headers={**req.headers, "x-oss-object-acl": "public-read-write"}),
    ):
        assert refused(tampered).code == "SignatureDoesNotMatch"


# Presigned URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_oss2_presigned_get(version: str, key: str) -> None:
    url = oss2_bucket(oss2_auth(version), Capture()).sign_url("GET", key, 60)
    req = from_url("GET", url)
    assert req.key == key
    assert check(req) == KEY_ID


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_oss2_presigned_with_params_and_headers(version: str) -> None:
    bucket = oss2_bucket(oss2_auth(version), Capture())
    params = {"x-oss-process": "doc/summarize", "response-content-type": "text/plain"}
    assert check(from_url("GET", bucket.sign_url("GET", "k", 60, params=params))) == KEY_ID
    headers = {"Content-Type": "text/plain", "x-oss-meta-a": "b"}
    put = from_url("PUT", bucket.sign_url("PUT", "k", 60, headers=headers), headers)
    assert check(put) == KEY_ID
    assert refused(_replace(put, headers={**put.headers, "x-oss-meta-a": "c"})).code == (
        "SignatureDoesNotMatch"
    )
    upload = {"uploadId": "UPID", "partNumber": "2"}
    assert check(from_url("PUT", bucket.sign_url("PUT", "k", 60, params=upload))) == KEY_ID


def test_oss2_presigned_v4_additional_headers() -> None:
    bucket = oss2_bucket(oss2_auth("v4"), Capture())
    headers = {"Range": "bytes=0-1", "Accept-Language": "zh"}
    url = bucket.sign_url("GET", "k", 60, headers=headers, additional_headers=["range", "accept-language"])
    assert "x-oss-additional-headers=accept-language%3Brange" in url
    assert check(from_url("GET", url, headers)) == KEY_ID
    assert refused(from_url("GET", url, {**headers, "Range": "bytes=0-2"})).code == "SignatureDoesNotMatch"


V2_PRESIGNS: dict[str, Callable[[str], Any]] = {
    "get": lambda key: oss.GetObjectRequest(bucket=BUCKET, key=key),
    "get ?x-oss-process": lambda key: oss.GetObjectRequest(bucket=BUCKET, key=key, process="doc/summarize"),
    "head": lambda key: oss.HeadObjectRequest(bucket=BUCKET, key=key),
    "put": lambda key: oss.PutObjectRequest(
        bucket=BUCKET, key=key, content_type="text/plain", metadata={"a": "b"}
    ),
    "?uploads": lambda key: oss.InitiateMultipartUploadRequest(bucket=BUCKET, key=key),
    "?uploadId&partNumber": lambda key: oss.UploadPartRequest(
        bucket=BUCKET, key=key, upload_id="UP/ID", part_number=1
    ),
    "complete": lambda key: oss.CompleteMultipartUploadRequest(bucket=BUCKET, key=key, upload_id="UPID"),
    "abort": lambda key: oss.AbortMultipartUploadRequest(bucket=BUCKET, key=key, upload_id="UPID"),
}


def v2_presigned(version: str, request: Any, seconds: int = 60) -> SignedRequest:
    result = v2_client(version).presign(request, expires=datetime.timedelta(seconds=seconds))
    return from_url(result.method, result.url, result.signed_headers)


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("make", V2_PRESIGNS.values(), ids=V2_PRESIGNS.keys())
def test_v2_presigned(version: str, make: Callable[[str], Any]) -> None:
    assert check(v2_presigned(version, make("dir/中 文+%"))) == KEY_ID


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("key", [k for k in TRICKY_KEYS if k != "../up"])
def test_v2_presigned_keys(version: str, key: str) -> None:
    req = v2_presigned(version, oss.GetObjectRequest(bucket=BUCKET, key=key))
    assert req.key == key
    assert check(req) == KEY_ID


def presigned_for_an_hour(sdk: str, version: str) -> SignedRequest:
    if sdk == "oss2":
        return from_url("GET", oss2_bucket(oss2_auth(version), Capture()).sign_url("GET", "dir/中 文", 3600))
    return v2_presigned(version, oss.GetObjectRequest(bucket=BUCKET, key="dir/中 文"), seconds=3600)


@pytest.mark.parametrize("version", ["v1", "v4"])
@pytest.mark.parametrize("sdk", ["oss2", "v2"])
def test_presigned_expiry_and_tampering(sdk: str, version: str) -> None:
    req = presigned_for_an_hour(sdk, version)
    assert check(req) == KEY_ID
    # Valid until it expires, beyond the skew window that applies to a Date header.
    assert check(req, now=time.time() + 3000, max_skew=900) == KEY_ID
    err = refused(req, now=time.time() + 3700)
    assert (err.code, err.status, err.message) == ("AccessDenied", 403, "Request has expired.")

    assert refused(_replace(req, key="dir/other")).code == "SignatureDoesNotMatch"
    assert refused(_replace(req, method="DELETE")).code == "SignatureDoesNotMatch"
    expires = "x-oss-expires" if version == "v4" else "Expires"
    longer = [(k, str(int(v) + 30) if k == expires else v) for k, v in req.query]
    raw = urlencode(longer, quote_via=quote)
    assert refused(_replace(req, query=longer, raw_query=raw)).code == "SignatureDoesNotMatch"
    extra = [*req.query, ("acl", "")]
    assert refused(_replace(req, query=extra, raw_query=req.raw_query + "&acl")).code == (
        "SignatureDoesNotMatch"
    )


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_presigned_with_a_negative_lifetime_has_expired(version: str) -> None:
    url = oss2_bucket(oss2_auth(version), Capture()).sign_url("GET", "k", -10)
    err = refused(from_url("GET", url))
    assert (err.code, err.message) == ("AccessDenied", "Request has expired.")


def test_presigned_wrong_secret_and_unknown_key() -> None:
    for version in ("v1", "v4"):
        wrong = oss2_bucket(oss2_auth(version, secret="wrong"), Capture()).sign_url("GET", "k", 60)
        assert refused(from_url("GET", wrong)).code == "SignatureDoesNotMatch"
        nobody = oss2_bucket(oss2_auth(version, key_id="LTAInobody"), Capture()).sign_url("GET", "k", 60)
        assert refused(from_url("GET", nobody)).code == "InvalidAccessKeyId"


def test_presigned_v4_longer_than_seven_days_is_refused() -> None:
    url = oss2_bucket(oss2_auth("v4"), Capture()).sign_url("GET", "k", 8 * 86400)
    assert refused(from_url("GET", url)).code == "InvalidArgument"


def test_presigned_v4_signed_in_the_future_is_refused() -> None:
    # Else a URL could be made to stay valid for longer than x-oss-expires' seven days.
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    req, _ = signed_directly(SignerV4(), at=later, query=True)
    assert refused(req).code == "RequestTimeTooSkewed"
    assert check(req, now=later.timestamp()) == KEY_ID


# Anonymous and malformed ------------------------------------------------------------------------------


def test_anonymous() -> None:
    assert check(from_url("GET", f"{ENDPOINT}/k")) is None
    assert check(from_url("GET", f"{BUCKET_URL}/k?acl&prefix=x")) is None
    capture = Capture()
    with pytest.raises(oss2.exceptions.RequestError):
        oss2_bucket(oss2.AnonymousAuth(), capture).get_object("中 文")
    assert check(received(capture.sent[-1])) is None


V4_SCOPE = f"{KEY_ID}/20250101/{REGION}/oss/aliyun_v4_request"
MALFORMED = {
    "other scheme": ({"authorization": "Bearer x"}, "", "InvalidArgument"),
    "V1 without colon": ({"authorization": "OSS nocolon"}, "", "InvalidArgument"),
    "V1 without key id": ({"authorization": "OSS :c2ln"}, "", "InvalidArgument"),
    "V2 header": ({"authorization": "OSS2 AccessKeyId:a,Signature:b"}, "", "InvalidArgument"),
    "V4 without credential": (
        {"authorization": "OSS4-HMAC-SHA256 Signature=ab", "x-oss-date": "20250101T000000Z"},
        "",
        "InvalidArgument",
    ),
    "V4 without x-oss-date": (
        {"authorization": f"OSS4-HMAC-SHA256 Credential={V4_SCOPE},Signature=ab"},
        "",
        "AccessDenied",
    ),
    "V4 with an HTTP date": (
        {
            "authorization": f"OSS4-HMAC-SHA256 Credential={V4_SCOPE},Signature=ab",
            "x-oss-date": "Wed, 01 Jan 2025 00:00:00 GMT",
        },
        "",
        "AccessDenied",
    ),
    "V1 bad date": ({"authorization": f"OSS {KEY_ID}:c2ln", "date": "yesterday"}, "", "AccessDenied"),
    "V1 no date": ({"authorization": f"OSS {KEY_ID}:c2ln"}, "", "AccessDenied"),
    "V1 URL without Expires": ({}, f"OSSAccessKeyId={KEY_ID}&Signature=x", "AccessDenied"),
    "V1 URL bad Expires": ({}, f"OSSAccessKeyId={KEY_ID}&Expires=soon&Signature=x", "AccessDenied"),
    "V4 URL incomplete": ({}, "x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-signature=x", "AccessDenied"),
    "V2 URL": (
        {},
        "x-oss-signature-version=OSS2&x-oss-access-key-id=a&x-oss-expires=1&x-oss-signature=x",
        "InvalidArgument",
    ),
    "URL without version": ({}, f"x-oss-credential={quote(V4_SCOPE, safe='')}", "InvalidArgument"),
}


@pytest.mark.parametrize(("headers", "query", "code"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_credentials_are_refused(headers: dict[str, str], query: str, code: str) -> None:
    req = SignedRequest(
        "GET", "/bkt/k", parse_qsl(query, keep_blank_values=True), headers, BUCKET, "k", raw_query=query
    )
    assert refused(req).code == code


# The sub-resource lists follow the SDKs ------------------------------------------------------------


def _v2_operation_subresources() -> set[str]:
    """Every name an alibabacloud-oss-v2 operation adds to its V1 canonical resource."""
    package = Path(oss.__file__).parent
    names: set[str] = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values, strict=True):
                    if isinstance(k, ast.Constant) and k.value == "sub-resource" and isinstance(v, ast.List):
                        names |= {
                            e.value
                            for e in v.elts
                            if isinstance(e, ast.Constant) and isinstance(e.value, str)
                        }
    return names


def test_subresources_match_the_sdks() -> None:
    assert oss2.auth.ProviderAuth._subresource_key_set == auth_subresources.OSS2_SUBRESOURCES
    assert SignerV1._subresource_key_set == auth_subresources.V2_SIGNER_SUBRESOURCES
    operations = _v2_operation_subresources()
    assert {"cors", "retention", "seal"} <= operations
    assert operations == auth_subresources.V2_OPERATION_SUBRESOURCES
