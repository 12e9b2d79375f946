from __future__ import annotations

import asyncio
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


async def failing_body(data: bytes) -> AsyncIterator[bytes]:
    yield data
    raise ConnectionResetError("client went away")


async def test_stage_at_exact_limit(backend: StorageBackend) -> None:
    blob = await backend.stage(body(b"x" * 10, b"y" * 10), limit=20)
    assert blob.size == 20
    empty = await backend.stage(body())
    assert (empty.size, empty.md5, empty.crc64) == (0, hashlib.md5(b"").digest(), 0)


async def test_stage_reraises_body_errors(backend: StorageBackend) -> None:
    with pytest.raises(ConnectionResetError):
        await backend.stage(failing_body(os.urandom(3 * 1024 * 1024)))


async def test_multi_segment_ranges(backend: StorageBackend, bucket: str) -> None:
    pieces = [os.urandom(n) for n in (5, 0, 1_500_000, 3)]
    blobs = [await backend.stage(body(p)) for p in pieces]
    data = b"".join(pieces)
    record = await backend.commit_object(
        bucket, "m", segments=blobs, etag="E", crc64=crc64(data), object_type="Normal", meta=META
    )
    assert record.size == len(data)
    assert await read_all(backend, record) == data
    for start, end in [(0, 5), (4, 6), (3, 1_500_004), (1_500_004, None), (0, 0), (len(data), None)]:
        assert await read_all(backend, record, start, end) == data[start:end]
    assert max([len(chunk) async for chunk in backend.read(record)]) <= 1024 * 1024


async def test_unsigned_crc_and_meta_round_trip(backend: StorageBackend, bucket: str) -> None:
    meta = ObjectMeta(
        content_type="text/markdown; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="ä.md"', "cache-control": "no-cache"},
        user_meta={"x-oss-meta-author": "张三"},
        acl="public-read",
        tags={"k": "v=1&x"},
        storage_class="IA",
    )
    blob = await backend.stage(body(b"x"))
    await backend.commit_object(
        bucket, "k", segments=[blob], etag="E", crc64=2**64 - 1, object_type="Normal", meta=meta
    )
    record = await backend.get_object(bucket, "k")
    assert record is not None
    assert (record.crc64, record.meta) == (2**64 - 1, meta)


async def test_missing_things(backend: StorageBackend, bucket: str) -> None:
    assert await backend.get_object(bucket, "none") is None
    assert await backend.get_object("nobucket", "none") is None
    assert not await backend.delete_object(bucket, "none")
    assert await backend.get_upload(bucket, "k", "0" * 32) is None
    for call in (
        backend.set_bucket_acl("nobucket", "private"),
        backend.create_upload("nobucket", "k", META),
        backend.append_object("nobucket", "k", blob=await backend.stage(body(b"x")), position=0, meta=META),
    ):
        with pytest.raises(errors.OSSError) as info:
            await call
        assert info.value.code == "NoSuchBucket"


async def test_append_new_object_needs_position_zero(backend: StorageBackend, bucket: str) -> None:
    blob = await backend.stage(body(b"x"))
    with pytest.raises(errors.OSSError) as info:
        await backend.append_object(bucket, "a", blob=blob, position=5, meta=META)
    assert info.value.code == "PositionNotEqualToLength"
    assert info.value.headers["x-oss-next-append-position"] == "0"
    assert await backend.get_object(bucket, "a") is None


async def test_append_etag_changes_and_check_aborts(backend: StorageBackend, bucket: str) -> None:
    first = await backend.append_object(
        bucket, "a", blob=await backend.stage(body(b"abc")), position=0, meta=META
    )
    blob = await backend.stage(body(b"def"))

    def refuse(current: ObjectRecord | None) -> None:
        assert current == first
        raise errors.PreconditionFailed()

    with pytest.raises(errors.OSSError) as info:
        await backend.append_object(bucket, "a", blob=blob, position=3, meta=META, check=refuse)
    assert info.value.code == "PreconditionFailed"
    assert await backend.get_object(bucket, "a") == first
    second = await backend.append_object(bucket, "a", blob=blob, position=3, meta=META)
    assert second.etag != first.etag
    assert len(second.etag) == 32 and second.etag == second.etag.upper()
    assert await read_all(backend, second) == b"abcdef"


async def test_concurrent_appends_at_one_position(backend: StorageBackend, bucket: str) -> None:
    await backend.append_object(bucket, "a", blob=await backend.stage(body(b"0")), position=0, meta=META)
    blobs = [await backend.stage(body(bytes([65 + n]))) for n in range(5)]
    results = await asyncio.gather(
        *(backend.append_object(bucket, "a", blob=b, position=1, meta=META) for b in blobs),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, ObjectRecord)]
    assert len(won) == 1
    assert all(
        isinstance(r, errors.OSSError) and r.code == "PositionNotEqualToLength"
        for r in results
        if r not in won
    )
    assert (await backend.get_object(bucket, "a")).size == 2  # type: ignore[union-attr]


async def test_copy_appendable_multi_segment(backend: StorageBackend, bucket: str) -> None:
    record = await backend.append_object(
        bucket, "a", blob=await backend.stage(body(b"ab")), position=0, meta=META
    )
    record = await backend.append_object(
        bucket, "a", blob=await backend.stage(body(b"cd")), position=2, meta=META
    )
    copy = await backend.copy_object(record, bucket, "c", meta=ObjectMeta(content_type="x/y"))
    assert (copy.object_type, copy.etag, copy.crc64, copy.size) == (
        "Appendable",
        record.etag,
        record.crc64,
        4,
    )
    assert copy.meta.content_type == "x/y"
    await put(backend, bucket, "a", b"overwritten")
    assert await read_all(backend, copy) == b"abcd"
    assert await read_all(backend, await backend.get_object(bucket, "c")) == b"abcd"  # type: ignore[arg-type]


async def test_copy_check_and_missing_bucket(backend: StorageBackend, bucket: str) -> None:
    source = await put(backend, bucket, "src", b"payload")

    def refuse(current: ObjectRecord | None) -> None:
        raise errors.FileAlreadyExists()

    with pytest.raises(errors.OSSError):
        await backend.copy_object(source, bucket, "dst", meta=META, check=refuse)
    assert await backend.get_object(bucket, "dst") is None
    with pytest.raises(errors.OSSError) as info:
        await backend.copy_object(source, "nobucket", "dst", meta=META)
    assert info.value.code == "NoSuchBucket"


async def test_copy_onto_itself(backend: StorageBackend, bucket: str) -> None:
    source = await put(backend, bucket, "k", b"same bytes")
    copy = await backend.copy_object(source, bucket, "k", meta=ObjectMeta(content_type="a/b"))
    assert await read_all(backend, copy) == b"same bytes"
    assert (await backend.get_object(bucket, "k")) == copy


async def test_listing_prefix_edges(backend: StorageBackend, bucket: str) -> None:
    # Keys whose UTF-8 ends in 0xBF / continuation bytes next to a lead byte, the highest code point,
    # and neighbours that a naive "increment the last character" bound would mishandle.
    keys = [
        "\u00bf",
        "\u00bfa",
        "\u00c0",
        "\u07ff",
        "\u07ffz",
        "\u0800",
        "\uffff",
        "\U0010ffff",
        "\U0010ffffx",
    ]
    keys += ["a", "a/", "a/\U0010ffff", "a0", "b"]
    for key in keys:
        await put(backend, bucket, key, b"")
    await backend.create_bucket(Bucket("other", 1.0))
    await put(backend, "other", "a/x", b"")

    async def listed(prefix: str, after: bytes = b"", limit: int = 100) -> list[str]:
        return [r.key for r in await backend.list_objects(bucket, prefix, after, limit)]

    assert await listed("") == sorted(keys, key=str.encode)
    for prefix in ("\u00bf", "\u07ff", "\U0010ffff", "a/", "a", "\uffff", "zz"):
        assert await listed(prefix) == sorted((k for k in keys if k.startswith(prefix)), key=str.encode)
    assert await listed("a", after=b"a/") == ["a/\U0010ffff", "a0"]
    assert await listed("a", after=b"a/\xff") == ["a0"]
    assert await listed("", after=b"\xff") == []
    assert await listed("", after=b"\xf4\x8f\xbf\xbf") == ["\U0010ffffx"]
    assert await listed("a", limit=2) == ["a", "a/"]
    assert await listed("", limit=0) == []


async def test_complete_check_aborts_and_keeps_upload(backend: StorageBackend, bucket: str) -> None:
    old = await put(backend, bucket, "m", b"old")
    upload = await backend.create_upload(bucket, "m", META)
    part = await backend.put_part(upload, 1, await backend.stage(body(b"new")))

    def refuse(current: ObjectRecord | None) -> None:
        assert current == old
        raise errors.FileAlreadyExists()

    with pytest.raises(errors.OSSError):
        await backend.complete_upload(upload, [part], etag="E-1", crc64=crc64(b"new"), check=refuse)
    assert await read_all(backend, await backend.get_object(bucket, "m")) == b"old"  # type: ignore[arg-type]
    assert await backend.list_parts(upload) == [part]
    record = await backend.complete_upload(upload, [part], etag="E-1", crc64=crc64(b"new"))
    assert await read_all(backend, record) == b"new"
    assert record.meta == META


async def test_complete_refuses_a_part_replaced_meanwhile(backend: StorageBackend, bucket: str) -> None:
    upload = await backend.create_upload(bucket, "m", META)
    listed = await backend.put_part(upload, 1, await backend.stage(body(b"v1")))
    await backend.put_part(upload, 1, await backend.stage(body(b"v2")))
    with pytest.raises(errors.OSSError) as info:
        await backend.complete_upload(upload, [listed], etag="E-1", crc64=0)
    assert info.value.code == "InvalidPart"
    assert await backend.get_object(bucket, "m") is None
    current = await backend.list_parts(upload)
    record = await backend.complete_upload(upload, current, etag="E-1", crc64=crc64(b"v2"))
    assert await read_all(backend, record) == b"v2"


async def test_upload_ids_and_abort(backend: StorageBackend, bucket: str) -> None:
    uploads = [await backend.create_upload(bucket, "k", META) for _ in range(20)]
    ids = {u.upload_id for u in uploads}
    assert len(ids) == 20
    assert all(len(i) == 32 and i == i.upper() and int(i, 16) >= 0 for i in ids)
    await backend.put_part(uploads[0], 1, await backend.stage(body(b"x")))
    await backend.abort_upload(uploads[0])
    assert await backend.get_upload(bucket, "k", uploads[0].upload_id) is None
    with pytest.raises(errors.OSSError) as info:
        await backend.put_part(uploads[0], 2, await backend.stage(body(b"x")))
    assert info.value.code == "NoSuchUpload"


async def test_list_uploads_pages_through_one_key(backend: StorageBackend, bucket: str) -> None:
    made = []
    for n in range(7):
        made.append(await backend.create_upload(bucket, "same", META))
        if n == 3:
            made.append(await backend.create_upload(bucket, "other", META))
    pages: list[list[str]] = []
    key_marker, id_marker = "", ""
    while page := await backend.list_uploads(bucket, "", key_marker, id_marker, 2):
        pages.append([u.upload_id for u in page])
        key_marker, id_marker = page[-1].key, page[-1].upload_id
    seen = [i for page in pages for i in page]
    expected = sorted(made, key=lambda u: (u.key.encode(), u.initiated, u.upload_id))
    assert seen == [u.upload_id for u in expected]
    # The marker upload finished meanwhile: resume after its id, as OSS documents.
    gone = expected[3]
    await backend.abort_upload(gone)
    rest = await backend.list_uploads(bucket, "", gone.key, gone.upload_id, 100)
    assert [u.upload_id for u in rest] == [
        u.upload_id
        for u in expected
        if u.key > gone.key or (u.key == gone.key and u.upload_id > gone.upload_id)
    ]


async def test_read_survives_overwrite_of_multi_segment_object(backend: StorageBackend, bucket: str) -> None:
    pieces = [os.urandom(1_200_000), os.urandom(900_000)]
    blobs = [await backend.stage(body(p)) for p in pieces]
    record = await backend.commit_object(
        bucket, "k", segments=blobs, etag="E", crc64=0, object_type="Normal", meta=META
    )
    stream = backend.read(record, 100)
    await put(backend, bucket, "k", b"new")
    assert b"".join([c async for c in stream]) == b"".join(pieces)[100:]


def test_public_surface() -> None:
    import ossdoc.backends.storage as storage

    assert set(storage.__all__) == {
        "Bucket",
        "Check",
        "LocalStorage",
        "MemoryStorage",
        "ObjectMeta",
        "ObjectRecord",
        "Part",
        "Segment",
        "StagedBlob",
        "StorageBackend",
        "Upload",
    }
    assert all(hasattr(storage, name) for name in storage.__all__)
