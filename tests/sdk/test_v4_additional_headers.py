"""Signature V4 with additional signed headers (``AdditionalHeaders=`` in the Authorization header,
``x-oss-additional-headers`` in presigned URLs), as oss2 and alibabacloud-oss-v2 build them; a
request whose additional header was changed after signing is refused."""

from __future__ import annotations

import datetime
import uuid
from urllib.parse import quote

import alibabacloud_oss_v2 as oss
import oss2
import pytest
import requests
from alibabacloud_oss_v2.signer import SignerV4

from ossdoc_server import RunningServer

ADDITIONAL = ["range", "x-custom", "host", "absent"]  # oss2 lists a header not sent too


def oss2_v4_request(
    server: RunningServer, bucket: str, key: str, headers: dict[str, str]
) -> tuple[str, dict[str, str]]:
    """A GET signed by oss2's AuthV4 with ``ADDITIONAL`` as additional signed headers."""
    auth = oss2.AuthV4(server.access_key_id, server.access_key_secret)
    url = f"{server.endpoint}/{bucket}/{quote(key)}"
    req = oss2.http.Request("GET", url, headers=headers, region="cn-hangzhou", product="oss")
    auth._sign_request(req, bucket, key, in_additional_headers=ADDITIONAL)
    assert "AdditionalHeaders=" in req.headers["authorization"]
    return url, dict(req.headers)


@pytest.fixture(scope="module")
def v4_bucket(server: RunningServer) -> oss2.Bucket:
    auth = oss2.AuthV4(server.access_key_id, server.access_key_secret)
    b = oss2.Bucket(auth, server.endpoint, f"addl-{uuid.uuid4().hex[:12]}", region="cn-hangzhou")
    b.create_bucket()
    b.put_object("obj", b"0123456789")
    return b


def test_oss2_signed_header(server: RunningServer, v4_bucket: oss2.Bucket) -> None:
    host = f"127.0.0.1:{server.port}"
    headers = {"Range": "bytes=0-2", "x-custom": "Value With  Spaces", "Host": host}
    url, sent = oss2_v4_request(server, v4_bucket.bucket_name, "obj", headers)
    reply = requests.get(url, headers=sent, timeout=30)
    assert (reply.status_code, reply.content) == (206, b"012"), reply.text
    for name, value in [("Range", "bytes=0-5"), ("x-custom", "other")]:
        tampered = requests.get(url, headers={**sent, name: value}, timeout=30)
        assert tampered.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in tampered.content
    dropped = {k: v for k, v in sent.items() if k.lower() != "x-custom"}
    assert requests.get(url, headers=dropped, timeout=30).status_code == 403


def test_oss2_presigned_url(server: RunningServer, v4_bucket: oss2.Bucket) -> None:
    headers = {"Range": "bytes=2-4", "x-custom": "v"}
    url = v4_bucket.sign_url("GET", "obj", 300, headers=headers, additional_headers=["range", "x-custom"])
    assert "x-oss-additional-headers=" in url
    reply = requests.get(url, headers=headers, timeout=30)
    assert (reply.status_code, reply.content) == (206, b"234"), reply.text
    tampered = requests.get(url, headers={**headers, "Range": "bytes=0-9"}, timeout=30)
    assert tampered.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in tampered.content


def v2_signed(
    server: RunningServer, url: str, headers: dict[str, str], *, query: bool, method: str = "GET"
) -> tuple[str, dict[str, str]]:
    """Signed by alibabacloud-oss-v2's SignerV4 with additional headers. (Its client, 1.4.1, never
    hands ``Config.additional_headers`` to the signer, so drive the signer as the client does.)"""
    bucket, _, key = url.removeprefix(server.endpoint + "/").partition("/")
    request = oss.HttpRequest(method=method, url=url, headers=dict(headers))
    context = oss.SigningContext(
        product="oss",
        region="cn-hangzhou",
        bucket=bucket,
        key=key,
        request=request,
        credentials=oss.credentials.Credentials(server.access_key_id, server.access_key_secret),
        additional_headers={"Range", "x-custom", "user-agent", "absent"},
    )
    context.auth_method_query = query
    if query:
        context.expiration_time = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
    SignerV4().sign(context)
    return request.url, dict(request.headers)


@pytest.mark.parametrize("query", [False, True], ids=["header", "presigned"])
def test_v2_signer(server: RunningServer, v4_bucket: oss2.Bucket, query: bool) -> None:
    headers = {"Range": "bytes=5-7", "x-custom": "p", "User-Agent": "fuzzy/1.0"}
    url, sent = v2_signed(server, f"{server.endpoint}/{v4_bucket.bucket_name}/obj", headers, query=query)
    if query:
        assert "x-oss-additional-headers=range%3Bua%3Bx-custom".replace("ua", "user-agent") in url
    else:
        assert "AdditionalHeaders=range;user-agent;x-custom" in sent["Authorization"]
    reply = requests.get(url, headers=sent, timeout=30)
    assert (reply.status_code, reply.content) == (206, b"567"), reply.text
    for name, value in [("x-custom", "q"), ("Range", "bytes=0-9"), ("User-Agent", "other")]:
        tampered = requests.get(url, headers={**sent, name: value}, timeout=30)
        assert tampered.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in tampered.content
    put_url, put_headers = v2_signed(
        server, f"{server.endpoint}/{v4_bucket.bucket_name}/put", {"x-custom": "x"}, query=query, method="PUT"
    )
    assert requests.put(put_url, data=b"abc", headers=put_headers, timeout=30).status_code == 200
    assert v4_bucket.get_object("put").read() == b"abc"
