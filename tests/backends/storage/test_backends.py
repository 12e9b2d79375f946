from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from ossdoc import errors
from ossdoc.backends.storage import StorageBackend
from ossdoc.backends.storage.base import Bucket, ObjectMeta, ObjectRecord
from ossdoc.crc64 import crc64

pytestmark = pytest.mark.anyio
META = ObjectMeta(content_type="text/plain", user_meta={"x-oss-meta-a": "1"})


async def body(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def read_all(
    backend: StorageBackend, record: ObjectRecord, start: int = 0, end: int | None = None
) -> bytes:
    return b"".join([chunk async for chunk in backend.read(record, start, end)])


async def put(backend: StorageBackend, bucket: str, key: str, data: bytes) -> ObjectRecord:
    blob = await backend.stage(body(data))
    return await backend.commit_object(
        bucket,
        key,
        segments=[blob],
        etag=blob.md5.hex().upper(),
        crc64=blob.crc64,
        object_type="Normal",
        meta=META,
    )


@pytest.fixture
async def bucket(backend: StorageBackend) -> str:
    await backend.create_bucket(Bucket("b1", 1.0))
    return "b1"


async def test_buckets(backend: StorageBackend) -> None:
    await backend.create_bucket(Bucket("zz", 1.0))
    await backend.create_bucket(Bucket("aa", 2.0, acl="public-read"))
    with pytest.raises(errors.OSSError) as info:
        await backend.create_bucket(Bucket("aa", 3.0))
    assert info.value.code == "BucketAlreadyExists"
    assert [b.name for b in await backend.list_buckets()] == ["aa", "zz"]
    await backend.set_bucket_acl("zz", "public-read-write")
    assert (await backend.get_bucket("zz")).acl == "public-read-write"  # type: ignore[union-attr]
    await backend.delete_bucket("zz")
    assert await backend.get_bucket("zz") is None
    with pytest.raises(errors.OSSError) as info:
        await backend.delete_bucket("zz")
    assert info.value.code == "NoSuchBucket"


async def test_stage_hashes_and_commit(backend: StorageBackend, bucket: str) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    blob = await backend.stage(body(data[:1000], data[1000:]))
    assert blob.size == len(data)
    assert blob.md5 == hashlib.md5(data).digest()
    assert blob.crc64 == crc64(data)
    record = await backend.commit_object(
        bucket, "k", segments=[blob], etag="E", crc64=blob.crc64, object_type="Normal", meta=META
    )
    assert await read_all(backend, record) == data
    assert await read_all(backend, record, 5, 2_000_000) == data[5:2_000_000]
    assert (await backend.get_object(bucket, "k")) == record


async def test_stage_over_limit_keeps_nothing(backend: StorageBackend, bucket: str) -> None:
    with pytest.raises(errors.OSSError) as info:
        await backend.stage(body(b"x" * 10, b"y" * 10), limit=15)
    assert info.value.code == "EntityTooLarge"
    assert await backend.get_object(bucket, "k") is None


async def test_failed_check_keeps_old_object(backend: StorageBackend, bucket: str) -> None:
    old = await put(backend, bucket, "k", b"old")
    blob = await backend.stage(body(b"new"))

    def refuse(current: ObjectRecord | None) -> None:
        assert current == old
        raise errors.FileAlreadyExists()

    with pytest.raises(errors.OSSError):
        await backend.commit_object(
            bucket, "k", segments=[blob], etag="X", crc64=0, object_type="Normal", meta=META, check=refuse
        )
    await backend.discard(blob)
    assert await read_all(backend, await backend.get_object(bucket, "k")) == b"old"  # type: ignore[arg-type]


async def test_read_survives_concurrent_overwrite_and_delete(backend: StorageBackend, bucket: str) -> None:
    data = os.urandom(2_500_000)
    record = await put(backend, bucket, "k", data)
    stream = backend.read(record)
    first = await stream.__anext__()
    await put(backend, bucket, "k", b"replacement")
    await backend.delete_object(bucket, "k")
    rest = b"".join([chunk async for chunk in stream])
    assert first + rest == data


async def test_commit_to_missing_bucket(backend: StorageBackend) -> None:
    blob = await backend.stage(body(b"x"))
    with pytest.raises(errors.OSSError) as info:
        await backend.commit_object(
            "nope", "k", segments=[blob], etag="E", crc64=0, object_type="Normal", meta=META
        )
    assert info.value.code == "NoSuchBucket"


async def test_copy_is_independent_of_source(backend: StorageBackend, bucket: str) -> None:
    source = await put(backend, bucket, "src", b"payload")
    copy = await backend.copy_object(source, bucket, "dst", meta=ObjectMeta())
    assert (copy.etag, copy.crc64, copy.size) == (source.etag, source.crc64, source.size)
    await backend.delete_object(bucket, "src")
    assert await read_all(backend, copy) == b"payload"


async def test_append(backend: StorageBackend, bucket: str) -> None:
    first = await backend.stage(body(b"hello "))
    record = await backend.append_object(bucket, "a", blob=first, position=0, meta=META)
    assert (record.object_type, record.size) == ("Appendable", 6)
    second = await backend.stage(body(b"world"))
    record = await backend.append_object(bucket, "a", blob=second, position=6, meta=ObjectMeta())
    assert await read_all(backend, record) == b"hello world"
    assert record.crc64 == crc64(b"hello world")
    assert record.meta == META
    third = await backend.stage(body(b"!"))
    with pytest.raises(errors.OSSError) as info:
        await backend.append_object(bucket, "a", blob=third, position=3, meta=META)
    assert info.value.code == "PositionNotEqualToLength"
    assert info.value.headers["x-oss-next-append-position"] == "11"
    await put(backend, bucket, "n", b"normal")
    with pytest.raises(errors.OSSError) as info:
        await backend.append_object(bucket, "n", blob=third, position=6, meta=META)
    assert info.value.code == "ObjectNotAppendable"


async def test_update_meta_and_delete(backend: StorageBackend, bucket: str) -> None:
    record = await put(backend, bucket, "k", b"x")
    updated = await backend.update_meta(bucket, "k", ObjectMeta(acl="public-read"))
    assert updated.meta.acl == "public-read"
    assert updated.last_modified == record.last_modified
    assert await backend.delete_object(bucket, "k")
    assert not await backend.delete_object(bucket, "k")
    with pytest.raises(errors.OSSError) as info:
        await backend.update_meta(bucket, "k", ObjectMeta())
    assert info.value.code == "NoSuchKey"


async def test_listing_is_byte_ordered_and_prefix_bounded(backend: StorageBackend, bucket: str) -> None:
    keys = ["a", "a/b", "a/c", "ab", "b", "中", "z", "\U0001f600", "a\x7f", "a\xff"]
    for key in keys:
        await put(backend, bucket, key, b"")
    listed = [r.key for r in await backend.list_objects(bucket, "", b"", 100)]
    assert listed == sorted(keys, key=lambda k: k.encode())
    assert [r.key for r in await backend.list_objects(bucket, "a", b"a/b", 100)] == [
        "a/c",
        "ab",
        "a\x7f",
        "a\xff",
    ]
    assert [r.key for r in await backend.list_objects(bucket, "a/", b"", 1)] == ["a/b"]
    assert [r.key for r in await backend.list_objects(bucket, "中", b"", 10)] == ["中"]


async def test_bucket_not_empty(backend: StorageBackend, bucket: str) -> None:
    await put(backend, bucket, "k", b"x")
    with pytest.raises(errors.OSSError) as info:
        await backend.delete_bucket(bucket)
    assert info.value.code == "BucketNotEmpty"
    await backend.delete_object(bucket, "k")
    upload = await backend.create_upload(bucket, "m", META)
    with pytest.raises(errors.OSSError):
        await backend.delete_bucket(bucket)
    await backend.abort_upload(upload)
    await backend.delete_bucket(bucket)


async def test_multipart_lifecycle(backend: StorageBackend, bucket: str) -> None:
    upload = await backend.create_upload(bucket, "m", META)
    assert await backend.get_upload(bucket, "m", upload.upload_id) == upload
    assert await backend.get_upload(bucket, "other", upload.upload_id) is None
    p1 = await backend.put_part(upload, 1, await backend.stage(body(b"first")))
    await backend.put_part(upload, 2, await backend.stage(body(b"dropped")))
    p2 = await backend.put_part(upload, 2, await backend.stage(body(b"second")))
    p3 = await backend.put_part(upload, 3, await backend.stage(body(b"unused")))
    assert [p.number for p in await backend.list_parts(upload)] == [1, 2, 3]
    assert p2.etag == hashlib.md5(b"second").hexdigest().upper()
    record = await backend.complete_upload(upload, [p1, p2], etag="E-2", crc64=crc64(b"firstsecond"))
    assert await read_all(backend, record) == b"firstsecond"
    assert record.object_type == "Multipart"
    assert await backend.get_upload(bucket, "m", upload.upload_id) is None
    for call in (
        backend.list_parts(upload),
        backend.abort_upload(upload),
        backend.put_part(upload, 4, await backend.stage(body(b"x"))),
    ):
        with pytest.raises(errors.OSSError) as info:
            await call
        assert info.value.code == "NoSuchUpload"
    assert p3.blob_id not in {s.blob_id for s in record.segments}


async def test_list_uploads(backend: StorageBackend, bucket: str) -> None:
    made = [await backend.create_upload(bucket, key, META) for key in ("b", "a", "a", "c/d")]
    listed = await backend.list_uploads(bucket, "", "", "", 10)
    assert [u.key for u in listed] == ["a", "a", "b", "c/d"]
    assert [u.key for u in await backend.list_uploads(bucket, "c/", "", "", 10)] == ["c/d"]
    assert [u.key for u in await backend.list_uploads(bucket, "", "a", "", 10)] == ["b", "c/d"]
    assert len(await backend.list_uploads(bucket, "", "", "", 2)) == 2
    assert {u.upload_id for u in listed} == {u.upload_id for u in made}
