"""ListMultipartUploads as OSS lists them: the uploads of one key in initiation order, upload IDs
that sort in that order, and paging by key-marker/upload-id-marker that neither skips nor repeats."""

from __future__ import annotations

import alibabacloud_oss_v2 as oss
import oss2

from ossdoc.backends.storage.blobs import new_upload_id


def test_upload_ids_sort_in_creation_order() -> None:
    ids = [new_upload_id() for _ in range(2000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and i == i.upper() for i in ids)


def test_uploads_of_a_key_in_initiation_order(bucket: oss2.Bucket) -> None:
    started = []
    for key in ["same", "other", "same", "a/b", "same", "other", "same"]:
        started.append((key, bucket.init_multipart_upload(key).upload_id))
    listed = [(u.key, u.upload_id) for u in bucket.list_multipart_uploads().upload_list]
    expected = sorted(started, key=lambda u: u[0])  # by key; stable: initiation order within one
    assert listed == expected
    same = [upload_id for key, upload_id in listed if key == "same"]
    assert same == sorted(same) == [upload_id for key, upload_id in started if key == "same"]
    for page_size in (1, 2, 3):
        paged: list[tuple[str, str]] = []
        key_marker = id_marker = ""
        while True:
            page = bucket.list_multipart_uploads(
                key_marker=key_marker, upload_id_marker=id_marker, max_uploads=page_size
            )
            paged += [(u.key, u.upload_id) for u in page.upload_list]
            assert len(page.upload_list) <= page_size
            if not page.is_truncated:
                break
            key_marker, id_marker = page.next_key_marker, page.next_upload_id_marker
        assert paged == expected
    # A key-marker alone resumes after every upload of that key.
    after = bucket.list_multipart_uploads(key_marker="other").upload_list
    assert [u.key for u in after] == ["same"] * 4
    # An upload-id-marker resumes after that upload of the key, even once it is gone.
    second = same[1]
    bucket.abort_multipart_upload("same", second)
    rest = bucket.list_multipart_uploads(key_marker="same", upload_id_marker=second).upload_list
    assert [u.upload_id for u in rest] == same[2:]


def test_v2_paginator_lists_every_upload_once(client: oss.Client, v2_bucket: str) -> None:
    started = [
        client.initiate_multipart_upload(
            oss.InitiateMultipartUploadRequest(bucket=v2_bucket, key=f"k{i % 3}")
        ).upload_id
        for i in range(9)
    ]
    listed = [
        upload.upload_id
        for page in client.list_multipart_uploads_paginator(limit=2).iter_page(
            oss.ListMultipartUploadsRequest(bucket=v2_bucket, max_uploads=2)
        )
        for upload in page.uploads or []
    ]
    assert sorted(listed) == sorted(started) and len(listed) == 9
    by_key = {f"k{i}": [u for n, u in enumerate(started) if n % 3 == i] for i in range(3)}
    assert listed == by_key["k0"] + by_key["k1"] + by_key["k2"]


def test_uploads_grouped_by_delimiter_page_by_page(bucket: oss2.Bucket) -> None:
    keys = ["a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d", "d"]
    started = [(key, bucket.init_multipart_upload(key).upload_id) for key in keys]
    whole = bucket.list_multipart_uploads(delimiter="/")
    assert whole.prefix_list == ["a/", "c/"]
    assert [(u.key, u.upload_id) for u in whole.upload_list] == [s for s in started if "/" not in s[0]]
    assert bucket.list_multipart_uploads(prefix="a/", delimiter="/").prefix_list == ["a/b/"]
    for page_size in (1, 2, 3):
        entries: list[str] = []
        key_marker = id_marker = ""
        while True:
            page = bucket.list_multipart_uploads(
                delimiter="/", key_marker=key_marker, upload_id_marker=id_marker, max_uploads=page_size
            )
            entries += page.prefix_list + [u.key for u in page.upload_list]
            assert len(page.prefix_list) + len(page.upload_list) <= page_size
            if not page.is_truncated:
                break
            key_marker, id_marker = page.next_key_marker, page.next_upload_id_marker
        assert sorted(entries) == ["a/", "b", "c/", "d", "d"], page_size
