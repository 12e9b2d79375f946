"""Any input gets a complete, well-formed answer: errors that echo keys, headers or parameters
holding control characters or invalid UTF-8 stay well-formed XML, header injection through
``response-*`` is refused, XML bodies in another encoding are malformed, over-long keys and request
lines are OSS errors, never a dropped connection."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import oss2
import pytest

from ossdoc_server import RunningServer
from raw_http import send


@pytest.fixture(scope="module")
def bucket(server: RunningServer) -> Iterator[str]:
    name = f"raw-{uuid.uuid4().hex[:12]}"
    b = oss2.Bucket(oss2.Auth(server.access_key_id, server.access_key_secret), server.endpoint, name)
    b.create_bucket()
    b.put_object("obj", b"hello")
    yield name


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        (b"/{b}/a%01b%1fc%7f", 404, "NoSuchKey"),  # echoed in <Key>
        (b"/{b}/a%00b", 400, "InvalidObjectName"),
        (b"/{b}/%ff%fe", 400, "InvalidObjectName"),  # percent-encoded invalid UTF-8
        (b"/{b}/\xff\xfe\x80raw", 400, "InvalidRequest"),  # raw bytes: not HTTP, refused by the parser
        (b"/{b}/%ef%bf%bf%ed%a0%80", 400, "InvalidObjectName"),  # U+FFFF, a surrogate
        (b"/{b}/?max-keys=%00%01", 400, "InvalidArgument"),  # echoed in <ArgumentValue>
        (b"/{b}/?encoding-type=%08%ff", 400, "InvalidArgument"),
        (b"/{b}/obj?partNumber=1&uploadId=%00%1b", 404, "NoSuchUpload"),
    ],
)
def test_errors_echoing_bad_characters_are_well_formed(
    server: RunningServer, bucket: str, target: bytes, status: int, code: str
) -> None:
    method = "PUT" if b"partNumber" in target else "GET"
    reply = send(server, method, target.replace(b"{b}", bucket.encode()))
    assert (reply.status, reply.code) == (status, code), reply.body
    assert b"\x00" not in reply.body and b"\x01" not in reply.body


def test_signature_mismatch_echoing_a_control_character(server: RunningServer, bucket: str) -> None:
    reply = send(
        server,
        "GET",
        f"/{bucket}/obj".encode(),
        headers={"Date": "Mon, 01 Jan 2024 00:00:00 GMT", "Authorization": f"OSS {server.access_key_id}:x"},
        raw_headers=b"x-oss-meta-a: a\x01b\xff\r\n",
        signed=False,
    )
    assert reply.status in (400, 403)
    reply.error()


@pytest.mark.parametrize(
    "value",
    [b"attachment%0d%0aSet-Cookie:%20x=1", b"a%0ab", b"a%0db", b"a%00b", b"a%07b"],
)
def test_header_injection_through_response_parameters(
    server: RunningServer, bucket: str, value: bytes
) -> None:
    reply = send(server, "GET", f"/{bucket}/obj?response-content-disposition=".encode() + value)
    assert (reply.status, reply.code) == (400, "InvalidArgument")
    assert "set-cookie" not in reply.headers


def test_non_latin1_response_parameter_is_sent_as_utf8(server: RunningServer, bucket: str) -> None:
    target = f"/{bucket}/obj?response-content-disposition=attachment%3B%20filename%3D%E4%B8%AD.txt"
    reply = send(server, "GET", target.encode())
    assert reply.status == 200 and reply.body == b"hello"
    assert "content-disposition: attachment; filename=\u4e2d.txt".encode() in reply.raw_head


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0" encoding="GBK"?><Delete><Object><Key>\xd6\xd0</Key></Object></Delete>',
        b"<?xml version='1.0' encoding='ISO-8859-1'?><Delete><Object><Key>obj</Key></Object></Delete>",
        b"<Delete><Object><Key>\xff\xfe</Key></Object></Delete>",
        b'<?xml version="1.0" encoding="UTF-16"?><Delete/>',
        b"\xef\xbb\xbf<Delete><Object><Key>\xc3</Key></Object></Delete>",
    ],
)
def test_xml_bodies_not_in_utf8_are_malformed(server: RunningServer, bucket: str, body: bytes) -> None:
    for method, target in [
        ("POST", f"/{bucket}/?delete"),
        ("PUT", f"/{bucket}/obj?tagging"),
        ("POST", f"/{bucket}/obj?uploadId=nope"),
    ]:
        reply = send(server, method, target.encode(), body=body, headers={"Content-Type": "application/xml"})
        if "uploadId" in target:
            assert (reply.status, reply.code) == (404, "NoSuchUpload")
            continue
        assert (reply.status, reply.code) == (400, "MalformedXML"), (target, reply.body)
    upload = oss2.Bucket(oss2.Auth(server.access_key_id, server.access_key_secret), server.endpoint, bucket)
    upload_id = upload.init_multipart_upload("mp").upload_id
    reply = send(server, "POST", f"/{bucket}/mp?uploadId={upload_id}".encode(), body=body)
    assert (reply.status, reply.code) == (400, "MalformedXML")
    upload.abort_multipart_upload("mp", upload_id)


def test_long_and_deep_keys(server: RunningServer, bucket: str) -> None:
    auth = oss2.Auth(server.access_key_id, server.access_key_secret)
    b = oss2.Bucket(auth, server.endpoint, bucket)
    deep = "d/" * 510 + "end"  # 1023 bytes, 511 levels
    b.put_object(deep, b"deep")
    assert b.get_object(deep).read() == b"deep"
    listed = b.list_objects_v2(prefix="d/d/", delimiter="/")
    assert listed.prefix_list == ["d/d/d/"]
    b.delete_object(deep)
    for key in ("k" * 1024, "中" * 342, "d/" * 512):
        reply = send(server, "PUT", f"/{bucket}/{oss2.urlquote(key)}".encode(), body=b"x")
        assert (reply.status, reply.code) == (400, "InvalidObjectName"), key[:10]
        reply.error()


@pytest.mark.parametrize("size", [8 * 1024, 60 * 1024, 200 * 1024, 2 * 1024 * 1024])
def test_very_long_request_lines(server: RunningServer, bucket: str, size: int) -> None:
    """Keys past 1023 bytes are InvalidObjectName; past 64 KiB of request head the request is refused
    before it is read further. Either way a complete OSS error, never a reset."""
    reply = send(server, "GET", f"/{bucket}/".encode() + b"k" * size)
    assert reply.status == 400
    assert reply.code == ("InvalidObjectName" if size < 64 * 1024 else "InvalidRequest")
    many = b"".join(b"x-oss-meta-h%d: %s\r\n" % (i, b"v" * 1000) for i in range(size // 1000))
    reply = send(server, "GET", f"/{bucket}/obj".encode(), raw_headers=many, signed=False)
    assert reply.status in (200, 400, 403)
    reply.error() if reply.status != 200 else None


@pytest.mark.parametrize(
    "line",
    [
        b"GET /\x01bad HTTP/1.1",
        b"GET / HTTP/9.9",
        b"BREW /pot HTTP/1.1",
        b"GET /a b c HTTP/1.1",
        b"\x00\xff\xfe",
    ],
)
def test_requests_that_are_not_http(server: RunningServer, line: bytes) -> None:
    import socket

    from raw_http import parse_reply

    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    reply = parse_reply(data)
    assert 400 <= reply.status < 500
    reply.error()
