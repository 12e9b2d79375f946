"""oss2 against a real ossdoc: buckets, listing, multipart, resumable transfers, auth failures."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import oss2
import pytest

from ossdoc_server import RunningServer
from sdk_helpers import signed


def test_bucket_lifecycle(server: RunningServer, oss2_auth: oss2.Auth) -> None:
    name = f"t-{uuid.uuid4().hex[:12]}"
    b = oss2.Bucket(oss2_auth, server.endpoint, name, region="cn-hangzhou")
    b.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)
    with pytest.raises(oss2.exceptions.ServerError) as info:
        b.create_bucket()
    assert info.value.status == 409
    info_result = b.get_bucket_info()
    assert info_result.name == name
    assert info_result.acl.grant == "public-read"
    assert info_result.extranet_endpoint == f"127.0.0.1:{server.port}"
    assert b.get_bucket_location().location == "oss-cn-hangzhou"
    b.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)
    assert b.get_bucket_acl().acl == "private"
    service = oss2.Service(oss2_auth, server.endpoint, region="cn-hangzhou")
    assert name in [x.name for x in oss2.BucketIterator(service)]
    b.put_object("k", b"x")
    with pytest.raises(oss2.exceptions.BucketNotEmpty):
        b.delete_bucket()
    b.delete_object("k")
    b.delete_bucket()
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.get_bucket_info()


@pytest.mark.parametrize("name", ["ab", "UPPER", "-start", "end-", "under_score", "x" * 64])
def test_bad_bucket_names(server: RunningServer, name: str) -> None:
    # oss2 refuses these names itself, so sign the request with its signer and send it raw.
    response = signed(server, "PUT", name)
    assert response.status_code == 400
    assert b"<Code>InvalidBucketName</Code>" in response.content


def test_unimplemented_feature_answers_like_oss(bucket: oss2.Bucket) -> None:
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.get_bucket_lifecycle()
    assert (info.value.status, info.value.code) == (404, "NoSuchLifecycle")


def test_listing_pagination_over_2500_keys(bucket: oss2.Bucket) -> None:
    from concurrent.futures import ThreadPoolExecutor

    keys = [f"dir{i % 5}/sub{i % 3}/k{i:05d}" for i in range(2500)] + [f"top{i}" for i in range(30)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: bucket.put_object(k, b""), keys))
    listed = [o.key for o in oss2.ObjectIterator(bucket, max_keys=333)]
    assert listed == sorted(keys, key=lambda k: k.encode())
    top = list(oss2.ObjectIterator(bucket, delimiter="/", max_keys=7))
    assert [o.key for o in top if o.is_prefix()] == [f"dir{i}/" for i in range(5)]
    assert len([o for o in top if not o.is_prefix()]) == 30
    sub = [o.key for o in oss2.ObjectIterator(bucket, prefix="dir1/", delimiter="/")]
    assert sub == ["dir1/sub0/", "dir1/sub1/", "dir1/sub2/"]
    v2 = [o.key for o in oss2.ObjectIteratorV2(bucket, prefix="dir2/sub2/", max_keys=50, fetch_owner=True)]
    assert v2 == sorted(k for k in keys if k.startswith("dir2/sub2/"))
    page = bucket.list_objects_v2(start_after="top8")
    assert [o.key for o in page.object_list] == ["top9"]


def test_unicode_listing(bucket: oss2.Bucket) -> None:
    keys = ["中/一", "中/二", "a b/c", "%25", "emoji/\U0001f600"]
    for key in keys:
        bucket.put_object(key, b"")
    assert [o.key for o in oss2.ObjectIterator(bucket)] == sorted(keys, key=lambda k: k.encode())
    prefixes = [o.key for o in oss2.ObjectIterator(bucket, delimiter="/")]
    assert prefixes == sorted(["中/", "a b/", "%25", "emoji/"], key=lambda k: k.encode())


def test_multipart(bucket: oss2.Bucket) -> None:
    key = "multi 中"
    upload_id = bucket.init_multipart_upload(key).upload_id
    parts_data = [os.urandom(100 * 1024), os.urandom(100 * 1024), b"tail"]
    parts = []
    for number, data in enumerate(parts_data, 1):
        result = bucket.upload_part(key, upload_id, number, data)
        parts.append(oss2.models.PartInfo(number, result.etag))
    listed = bucket.list_parts(key, upload_id)
    assert [p.part_number for p in listed.parts] == [1, 2, 3]
    uploads = [u.upload_id for u in oss2.MultipartUploadIterator(bucket)]
    assert upload_id in uploads
    bucket.complete_multipart_upload(key, upload_id, parts)
    got = bucket.get_object(key)
    assert got.read() == b"".join(parts_data)
    assert got.headers["x-oss-object-type"] == "Multipart"
    assert got.etag.endswith("-3")
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        bucket.list_parts(key, upload_id)


def test_multipart_errors(server: RunningServer, bucket: oss2.Bucket) -> None:
    key = "bad-multi"
    upload_id = bucket.init_multipart_upload(key).upload_id
    etag1 = bucket.upload_part(key, upload_id, 1, b"a" * (100 * 1024)).etag
    etag2 = bucket.upload_part(key, upload_id, 2, b"b").etag
    with pytest.raises(oss2.exceptions.ServerError) as info:
        bucket.complete_multipart_upload(key, upload_id, [oss2.models.PartInfo(1, "0" * 32)])
    assert info.value.code == "InvalidPart"
    # oss2 sorts the parts itself: send them out of order raw.
    body = oss2.xml_utils.to_complete_upload_request(
        [oss2.models.PartInfo(2, etag2), oss2.models.PartInfo(1, etag1)]
    )
    response = signed(server, "POST", bucket.bucket_name, key, params={"uploadId": upload_id}, data=body)
    assert response.status_code == 400
    assert b"<Code>InvalidPartOrder</Code>" in response.content
    assert not bucket.object_exists(key)
    bucket.complete_multipart_upload(key, upload_id, None, headers={"x-oss-complete-all": "yes"})
    assert bucket.get_object(key).read() == b"a" * (100 * 1024) + b"b"


def test_malformed_complete_xml(server: RunningServer, bucket: oss2.Bucket) -> None:
    key = "malformed"
    upload_id = bucket.init_multipart_upload(key).upload_id
    bucket.upload_part(key, upload_id, 1, b"x")
    for body in (b"<CompleteMultipartUpload><Part>", b"<Other/>", b"<CompleteMultipartUpload/>"):
        response = signed(server, "POST", bucket.bucket_name, key, params={"uploadId": upload_id}, data=body)
        assert response.status_code == 400
        assert b"<Code>MalformedXML</Code>" in response.content
    assert not bucket.object_exists(key)
    assert [p.part_number for p in bucket.list_parts(key, upload_id).parts] == [1]


def test_upload_part_copy(bucket: oss2.Bucket) -> None:
    source = os.urandom(300 * 1024)
    bucket.put_object("copy-src", source)
    upload_id = bucket.init_multipart_upload("copy-dst").upload_id
    r1 = bucket.upload_part_copy(
        bucket.bucket_name, "copy-src", (0, 200 * 1024 - 1), "copy-dst", upload_id, 1
    )
    r2 = bucket.upload_part_copy(
        bucket.bucket_name, "copy-src", (200 * 1024, len(source) - 1), "copy-dst", upload_id, 2
    )
    bucket.complete_multipart_upload(
        "copy-dst", upload_id, [oss2.models.PartInfo(1, r1.etag), oss2.models.PartInfo(2, r2.etag)]
    )
    assert bucket.get_object("copy-dst").read() == source


@pytest.mark.timeout(600)
def test_resumable_50mib(bucket: oss2.Bucket, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(50 * 1024 * 1024))
    oss2.resumable_upload(
        bucket,
        "big.bin",
        str(src),
        multipart_threshold=10 * 1024 * 1024,
        part_size=10 * 1024 * 1024,
        num_threads=4,
        store=oss2.ResumableStore(root=str(tmp_path)),
    )
    assert bucket.head_object("big.bin").content_length == src.stat().st_size
    dst = tmp_path / "back.bin"
    oss2.resumable_download(
        bucket,
        "big.bin",
        str(dst),
        multiget_threshold=10 * 1024 * 1024,
        part_size=8 * 1024 * 1024,
        num_threads=4,
        store=oss2.ResumableDownloadStore(root=str(tmp_path)),
    )
    assert dst.read_bytes() == src.read_bytes()


def test_wrong_secret_unknown_key_and_anonymous(server: RunningServer, bucket: oss2.Bucket) -> None:
    bucket.put_object("private", b"x")
    wrong = oss2.Bucket(oss2.Auth(server.access_key_id, "wrong"), server.endpoint, bucket.bucket_name)
    with pytest.raises(oss2.exceptions.ServerError) as info:
        wrong.put_object("private", b"overwrite")
    assert info.value.code == "SignatureDoesNotMatch"
    unknown = oss2.Bucket(oss2.Auth("LTAInobody", "s"), server.endpoint, bucket.bucket_name)
    with pytest.raises(oss2.exceptions.ServerError) as info:
        unknown.get_object("private")
    assert info.value.code == "InvalidAccessKeyId"
    anonymous = oss2.Bucket(oss2.AnonymousAuth(), server.endpoint, bucket.bucket_name)
    with pytest.raises(oss2.exceptions.AccessDenied):
        anonymous.get_object("private")
    assert bucket.get_object("private").read() == b"x"
    bucket.put_object_acl("private", oss2.OBJECT_ACL_PUBLIC_READ)
    assert anonymous.get_object("private").read() == b"x"
    with pytest.raises(oss2.exceptions.AccessDenied):
        anonymous.put_object("private", b"y")


def test_skewed_clock(server: RunningServer, bucket: oss2.Bucket) -> None:
    import base64
    import hashlib
    import hmac

    import requests

    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() - 3600))
    to_sign = f"GET\n\n\n{date}\n/{bucket.bucket_name}/x"
    digest = hmac.new(server.access_key_secret.encode(), to_sign.encode(), hashlib.sha1).digest()
    headers = {
        "Date": date,
        "Authorization": f"OSS {server.access_key_id}:{base64.b64encode(digest).decode()}",
    }
    response = requests.get(f"{server.endpoint}/{bucket.bucket_name}/x", headers=headers, timeout=10)
    assert response.status_code == 403
    assert b"<Code>RequestTimeTooSkewed</Code>" in response.content
