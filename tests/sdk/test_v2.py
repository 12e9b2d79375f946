"""alibabacloud-oss-v2 (V4 by default, and V1; CRC checks on) against a real ossdoc."""

from __future__ import annotations

import io
import os
from pathlib import Path

import alibabacloud_oss_v2 as oss
import pytest
import requests


def test_put_get_head_delete(client: oss.Client, v2_bucket: str) -> None:
    # ("../x" is not here: the v2 SDK sends it unescaped and urllib3 removes the dot segments.)
    for key in ("a.txt", "中文/键 with space", "x+y%z", "a=b&c?d"):
        data = os.urandom(2048)
        put = client.put_object(
            oss.PutObjectRequest(bucket=v2_bucket, key=key, body=data, metadata={"k": "v"})
        )
        assert put.status_code == 200
        got = client.get_object(oss.GetObjectRequest(bucket=v2_bucket, key=key))
        assert got.body.read() == data
        assert got.metadata == {"k": "v"}
        assert got.hash_crc64 == put.hash_crc64
        head = client.head_object(oss.HeadObjectRequest(bucket=v2_bucket, key=key))
        assert head.content_length == len(data)
        assert head.etag == put.etag
        client.delete_object(oss.DeleteObjectRequest(bucket=v2_bucket, key=key))
        assert not client.is_object_exist(v2_bucket, key)


def test_errors(client: oss.Client, v2_bucket: str) -> None:
    with pytest.raises(oss.exceptions.OperationError) as info:
        client.get_object(oss.GetObjectRequest(bucket=v2_bucket, key="missing"))
    err = info.value.unwrap()
    assert isinstance(err, oss.exceptions.ServiceError)
    assert (err.status_code, err.code) == (404, "NoSuchKey")
    assert err.request_id
    with pytest.raises(oss.exceptions.OperationError) as info:
        client.head_object(oss.HeadObjectRequest(bucket=v2_bucket, key="missing"))
    assert info.value.unwrap().code == "NoSuchKey"  # from the x-oss-err header of the bodiless HEAD reply


def test_range_and_copy_and_append(client: oss.Client, v2_bucket: str) -> None:
    data = bytes(range(256)) * 8
    client.put_object(oss.PutObjectRequest(bucket=v2_bucket, key="r", body=data))
    part = client.get_object(oss.GetObjectRequest(bucket=v2_bucket, key="r", range_header="bytes=100-199"))
    assert part.body.read() == data[100:200]
    assert part.content_range == f"bytes 100-199/{len(data)}"
    client.copy_object(
        oss.CopyObjectRequest(bucket=v2_bucket, key="r2", source_key="r", source_bucket=v2_bucket)
    )
    assert client.get_object(oss.GetObjectRequest(bucket=v2_bucket, key="r2")).body.read() == data
    first = client.append_object(oss.AppendObjectRequest(bucket=v2_bucket, key="ap", position=0, body=b"abc"))
    assert first.next_position == 3
    client.append_object(
        oss.AppendObjectRequest(
            bucket=v2_bucket, key="ap", position=3, body=b"def", init_hash_crc64=first.hash_crc64
        )
    )
    assert client.get_object(oss.GetObjectRequest(bucket=v2_bucket, key="ap")).body.read() == b"abcdef"


def test_list_objects_v2_pages(client: oss.Client, v2_bucket: str) -> None:
    keys = [f"p/{i:03d}" for i in range(120)] + ["q/1", "r"]
    for key in keys:
        client.put_object(oss.PutObjectRequest(bucket=v2_bucket, key=key, body=b""))
    listed = []
    for page in client.list_objects_v2_paginator(limit=25).iter_page(
        oss.ListObjectsV2Request(bucket=v2_bucket)
    ):
        listed += [o.key for o in page.contents or []]
    assert listed == keys
    page = client.list_objects_v2(oss.ListObjectsV2Request(bucket=v2_bucket, delimiter="/"))
    assert [p.prefix for p in page.common_prefixes] == ["p/", "q/"]
    assert [o.key for o in page.contents] == ["r"]
    v1 = client.list_objects(oss.ListObjectsRequest(bucket=v2_bucket, prefix="q/"))
    assert [o.key for o in v1.contents] == ["q/1"]


def test_delete_multiple(client: oss.Client, v2_bucket: str) -> None:
    for key in ("d1", "d2 中"):
        client.put_object(oss.PutObjectRequest(bucket=v2_bucket, key=key, body=b"x"))
    result = client.delete_multiple_objects(
        oss.DeleteMultipleObjectsRequest(
            bucket=v2_bucket, objects=[oss.DeleteObject(key="d1"), oss.DeleteObject(key="d2 中")]
        )
    )
    assert sorted(d.key for d in result.deleted_objects) == ["d1", "d2 中"]


def test_bucket_info_and_listing(client: oss.Client, v2_bucket: str) -> None:
    info = client.get_bucket_info(oss.GetBucketInfoRequest(bucket=v2_bucket))
    assert info.bucket_info.name == v2_bucket
    names = [
        b.name for p in client.list_buckets_paginator().iter_page(oss.ListBucketsRequest()) for b in p.buckets
    ]
    assert v2_bucket in names


def test_presign_get_and_put(client: oss.Client, v2_bucket: str) -> None:
    put = client.presign(oss.PutObjectRequest(bucket=v2_bucket, key="pre/中 文"))
    assert requests.put(put.url, data=b"presigned", headers=put.signed_headers, timeout=10).status_code == 200
    get = client.presign(oss.GetObjectRequest(bucket=v2_bucket, key="pre/中 文"))
    response = requests.get(get.url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"presigned"
    response = requests.get(get.url.replace("pre/", "prf/"), timeout=10)
    assert response.status_code == 403


def test_multipart_and_listing_parts(client: oss.Client, v2_bucket: str) -> None:
    init = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=v2_bucket, key="mp"))
    parts = []
    chunks = [os.urandom(200 * 1024), os.urandom(1000)]
    for number, chunk in enumerate(chunks, 1):
        up = client.upload_part(
            oss.UploadPartRequest(
                bucket=v2_bucket, key="mp", upload_id=init.upload_id, part_number=number, body=chunk
            )
        )
        parts.append(oss.UploadPart(part_number=number, etag=up.etag))
    listed = client.list_parts(oss.ListPartsRequest(bucket=v2_bucket, key="mp", upload_id=init.upload_id))
    assert [p.part_number for p in listed.parts] == [1, 2]
    client.complete_multipart_upload(
        oss.CompleteMultipartUploadRequest(
            bucket=v2_bucket,
            key="mp",
            upload_id=init.upload_id,
            complete_multipart_upload=oss.CompleteMultipartUpload(parts=parts),
        )
    )
    assert client.get_object(oss.GetObjectRequest(bucket=v2_bucket, key="mp")).body.read() == b"".join(chunks)


@pytest.mark.timeout(600)
def test_uploader_downloader_50mib(client: oss.Client, v2_bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "big"
    src.write_bytes(os.urandom(50 * 1024 * 1024))
    uploader = client.uploader(part_size=8 * 1024 * 1024, parallel_num=4)
    uploader.upload_file(oss.PutObjectRequest(bucket=v2_bucket, key="big"), filepath=str(src))
    dst = tmp_path / "back"
    downloader = client.downloader(part_size=8 * 1024 * 1024, parallel_num=4)
    downloader.download_file(oss.GetObjectRequest(bucket=v2_bucket, key="big"), filepath=str(dst))
    assert dst.read_bytes() == src.read_bytes()
    stream = io.BytesIO(os.urandom(3 * 1024 * 1024))
    uploader.upload_from(oss.PutObjectRequest(bucket=v2_bucket, key="from-stream"), stream)
    assert (
        client.head_object(oss.HeadObjectRequest(bucket=v2_bucket, key="from-stream")).content_length
        == 3 * 1024 * 1024
    )
