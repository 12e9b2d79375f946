"""oss2 (V1 and V4 signatures, CRC checks on) against a real ossdoc: objects."""

from __future__ import annotations

import os

import oss2
import pytest

KEYS = [
    "plain.txt",
    "dir/sub/file",
    "with space+plus%percent",
    "中文/文件.txt",
    "../dots/../x",
    "emoji-\U0001f600",
]


@pytest.mark.parametrize("key", KEYS)
def test_put_get_head_delete(bucket: oss2.Bucket, key: str) -> None:
    data = os.urandom(1000) + key.encode()
    result = bucket.put_object(key, data, headers={"Content-Type": "text/x-test", "x-oss-meta-Who": "me"})
    assert result.status == 200
    assert result.crc == oss2.utils.Crc64(0).crc or result.crc is not None
    got = bucket.get_object(key)
    assert got.read() == data
    assert got.headers["Content-Type"] == "text/x-test"
    assert got.headers["x-oss-meta-who"] == "me"
    assert got.etag == result.etag
    head = bucket.head_object(key)
    assert head.content_length == len(data)
    assert head.object_type == "Normal"
    assert head.etag.upper() == head.etag
    bucket.delete_object(key)
    assert not bucket.object_exists(key)


def test_missing_key_and_bucket(bucket: oss2.Bucket) -> None:
    with pytest.raises(oss2.exceptions.NoSuchKey) as info:
        bucket.get_object("nope")
    assert info.value.request_id
    with pytest.raises(oss2.exceptions.NotFound):
        bucket.head_object("nope")
    other = oss2.Bucket(bucket.auth, bucket.endpoint, "no-such-bucket-xyz", region="cn-hangzhou")
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        other.get_object("k")


def test_ranges(bucket: oss2.Bucket) -> None:
    data = bytes(range(256)) * 4
    bucket.put_object("r", data)
    assert bucket.get_object("r", byte_range=(10, 19)).read() == data[10:20]
    assert bucket.get_object("r", byte_range=(1000, None)).read() == data[1000:]
    assert bucket.get_object("r", byte_range=(None, 24)).read() == data[-24:]
    # OSS answers an unsatisfiable range with the whole object unless the client asks for standard behaviour.
    assert bucket.get_object("r", byte_range=(5000, 6000)).read() == data
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.get_object("r", byte_range=(5000, 6000), headers={"x-oss-range-behavior": "standard"})
    assert info.value.status == 416
    assert info.value.code == "InvalidRange"


def test_conditional_get(bucket: oss2.Bucket) -> None:
    etag = bucket.put_object("c", b"x").etag
    assert bucket.get_object("c", headers={"If-Match": f'"{etag}"'}).read() == b"x"
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.get_object("c", headers={"If-Match": '"0000"'})
    with pytest.raises(oss2.exceptions.NotModified):
        bucket.get_object("c", headers={"If-None-Match": f'"{etag}"'})
    with pytest.raises(oss2.exceptions.NotModified):
        bucket.get_object("c", headers={"If-Modified-Since": "Sun, 01 Jan 2090 00:00:00 GMT"})
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.get_object("c", headers={"If-Unmodified-Since": "Sun, 01 Jan 2000 00:00:00 GMT"})


def test_copy_object(bucket: oss2.Bucket) -> None:
    bucket.put_object("src 中", b"payload", headers={"x-oss-meta-a": "1", "Content-Type": "text/plain"})
    bucket.copy_object(bucket.bucket_name, "src 中", "dst")
    got = bucket.get_object("dst")
    assert got.read() == b"payload"
    assert got.headers["x-oss-meta-a"] == "1"
    bucket.copy_object(
        bucket.bucket_name,
        "src 中",
        "dst2",
        headers={"x-oss-metadata-directive": "REPLACE", "x-oss-meta-b": "2"},
    )
    head = bucket.head_object("dst2")
    assert "x-oss-meta-a" not in head.headers
    assert head.headers["x-oss-meta-b"] == "2"
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.copy_object(
            bucket.bucket_name, "src 中", "dst3", headers={"x-oss-copy-source-if-match": '"bad"'}
        )
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.copy_object(bucket.bucket_name, "missing", "dst4")


def test_append_object(bucket: oss2.Bucket) -> None:
    first = bucket.append_object("log", 0, b"hello ")
    assert first.next_position == 6
    second = bucket.append_object("log", first.next_position, b"world", init_crc=first.crc)
    assert second.next_position == 11
    assert bucket.get_object("log").read() == b"hello world"
    with pytest.raises(oss2.exceptions.PositionNotEqualToLength) as info:
        bucket.append_object("log", 3, b"!")
    assert info.value.next_position == 11
    assert bucket.get_object("log").read() == b"hello world"
    assert bucket.head_object("log").object_type == "Appendable"


def test_object_acl_and_tagging(bucket: oss2.Bucket) -> None:
    bucket.put_object("t", b"x", headers={"x-oss-tagging": "a=1&b=2"})
    assert bucket.get_object_acl("t").acl == "default"
    bucket.put_object_acl("t", oss2.OBJECT_ACL_PUBLIC_READ)
    assert bucket.get_object_acl("t").acl == "public-read"
    tags = bucket.get_object_tagging("t").tag_set.tagging_rule
    assert tags == {"a": "1", "b": "2"}
    rule = oss2.models.TaggingRule()
    rule.add("k", "v")
    bucket.put_object_tagging("t", oss2.models.Tagging(rule))
    assert bucket.get_object_tagging("t").tag_set.tagging_rule == {"k": "v"}
    bucket.delete_object_tagging("t")
    assert bucket.get_object_tagging("t").tag_set.tagging_rule == {}


def test_batch_delete(bucket: oss2.Bucket) -> None:
    keys = ["a", "b/c", "中", "ctl\x01char"]
    for key in keys:
        bucket.put_object(key, b"x")
    result = bucket.batch_delete_objects([*keys, "never-existed"])
    assert sorted(result.deleted_keys) == sorted([*keys, "never-existed"])
    assert [o.key for o in oss2.ObjectIterator(bucket)] == []


def test_forbid_overwrite(bucket: oss2.Bucket) -> None:
    bucket.put_object("f", b"one")
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.put_object("f", b"two", headers={"x-oss-forbid-overwrite": "true"})
    assert info.value.code == "FileAlreadyExists"
    assert bucket.get_object("f").read() == b"one"


def test_get_object_meta(bucket: oss2.Bucket) -> None:
    put = bucket.put_object("m", b"12345")
    meta = bucket.get_object_meta("m")
    assert meta.content_length == 5
    assert meta.etag == put.etag


def test_presigned_urls(bucket: oss2.Bucket) -> None:
    import requests

    put_url = bucket.sign_url("PUT", "pre sign/中", 60)
    assert requests.put(put_url, data=b"via url", timeout=10).status_code == 200
    get_url = bucket.sign_url("GET", "pre sign/中", 60)
    response = requests.get(get_url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"via url"
    expired = bucket.sign_url("GET", "pre sign/中", -10)
    response = requests.get(expired, timeout=10)
    assert response.status_code == 403
    assert b"<Code>AccessDenied</Code>" in response.content
    tampered = get_url.replace("pre%20sign", "pre%20sigN")
    response = requests.get(tampered, timeout=10)
    assert response.status_code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in response.content


def test_wrong_content_md5_stores_nothing(bucket: oss2.Bucket) -> None:
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.put_object("md5", b"data", headers={"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="})
    assert info.value.code == "InvalidDigest"
    assert not bucket.object_exists("md5")


def test_oversized_user_metadata(bucket: oss2.Bucket) -> None:
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.put_object("meta", b"x", headers={"x-oss-meta-big": "v" * 9000})
    assert info.value.code == "InvalidArgument"
    assert not bucket.object_exists("meta")
