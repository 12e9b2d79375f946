"""Anonymous access through public ACLs, virtual-hosted addressing, error shapes on the wire."""

from __future__ import annotations

import base64

import oss2
import pytest
import requests

from ossdoc_server import RunningServer
from sdk_helpers import signed


def test_public_read_bucket_lets_anonymous_read_not_write(server: RunningServer, bucket: oss2.Bucket) -> None:
    bucket.put_object("pub", b"public data")
    anonymous = oss2.Bucket(oss2.AnonymousAuth(), server.endpoint, bucket.bucket_name)
    with pytest.raises(oss2.exceptions.AccessDenied):
        anonymous.get_object("pub")
    bucket.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
    assert anonymous.get_object("pub").read() == b"public data"
    assert [o.key for o in oss2.ObjectIterator(anonymous)] == ["pub"]
    with pytest.raises(oss2.exceptions.AccessDenied):
        anonymous.put_object("new", b"x")
    bucket.put_object_acl("pub", oss2.OBJECT_ACL_PRIVATE)  # an object ACL overrides the bucket's
    with pytest.raises(oss2.exceptions.AccessDenied):
        anonymous.get_object("pub")
    bucket.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ_WRITE)
    anonymous.put_object("new", b"written anonymously")
    assert bucket.get_object("new").read() == b"written anonymously"
    with pytest.raises(oss2.exceptions.AccessDenied):
        anonymous.delete_bucket()
    bucket.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)


def test_anonymous_service_request_is_denied(server: RunningServer) -> None:
    response = requests.get(server.endpoint + "/", timeout=10)
    assert response.status_code == 403
    assert b"<Code>AccessDenied</Code>" in response.content
    assert response.headers["x-oss-request-id"] in response.text
    assert response.headers["Server"] == "AliyunOSS"
    assert response.headers["Content-Type"] == "application/xml"


def test_virtual_hosted_style(server: RunningServer, bucket: oss2.Bucket) -> None:
    bucket.put_object("vh/key 1", b"virtual")
    bucket.put_object_acl("vh/key 1", oss2.OBJECT_ACL_PUBLIC_READ)
    response = requests.get(
        f"{server.endpoint}/vh/key%201",
        headers={"Host": f"{bucket.bucket_name}.localhost:{server.port}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.content == b"virtual"


def test_head_error_carries_the_xml_in_a_header(server: RunningServer, bucket: oss2.Bucket) -> None:
    bucket.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
    response = requests.head(f"{server.endpoint}/{bucket.bucket_name}/missing", timeout=10)
    assert response.status_code == 404
    assert response.content == b""
    body = base64.b64decode(response.headers["x-oss-err"])
    assert b"<Code>NoSuchKey</Code>" in body
    bucket.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)


def test_unknown_method_is_405(server: RunningServer, bucket: oss2.Bucket) -> None:
    response = signed(server, "PATCH", bucket.bucket_name, "k")
    assert response.status_code == 405
    assert b"<Code>MethodNotAllowed</Code>" in response.content
