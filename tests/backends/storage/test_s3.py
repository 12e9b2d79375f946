from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator

import pytest

from ossdoc import errors
from ossdoc.backends.storage import open_storage
from ossdoc.backends.storage.base import Bucket, ObjectMeta
from ossdoc.backends.storage.s3_keys import MAX_NAME_BYTES, decode, encode, parse_url, start_after
from ossdoc.config import Settings
from seaweedfs import RunningSeaweedFS

ALPHABET = ["", ".", "/", "-", "0", "a", "~", "\x7f", "ä", "中", "\U0010ffff"]
KEYS = ["".join(p) for n in range(1, 4) for p in itertools.product(ALPHABET[1:], repeat=n)]


def test_encoding_keeps_byte_order_and_prefixes() -> None:
    assert all("/" not in encode(k) and decode(encode(k)) == k for k in KEYS)
    assert sorted(KEYS, key=lambda k: encode(k).encode()) == sorted(KEYS, key=str.encode)
    for prefix in ("", ".", "/", "a.", "a/", "./"):
        assert [k for k in KEYS if encode(k).startswith(encode(prefix))] == [
            k for k in KEYS if k.startswith(prefix)
        ]


def test_start_after_of_bytes_no_key_has() -> None:
    after = b"a/" + b"\xff"
    first = start_after(after)
    later = [k for k in KEYS if k.encode() > after]
    assert all(encode(k) > first or k.encode() <= after for k in KEYS)
    assert all(encode(k) > first for k in later)
    assert start_after(b"a/b") == "a.~b"


def test_storage_urls() -> None:
    assert parse_url("s3") == ("ossdoc", "")
    assert parse_url("s3://data") == ("data", "")
    assert parse_url("s3://data/ossdoc/prod/") == ("data", "ossdoc/prod/")
    for bad in ("s3://", "http://x", "s4://x"):
        with pytest.raises(ValueError):
            parse_url(bad)


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.mark.anyio
async def test_bucket_mode_and_long_keys(seaweedfs: RunningSeaweedFS) -> None:
    name = f"bm-{uuid.uuid4().hex[:12]}"
    settings = Settings(**seaweedfs.settings(f"s3://home-{name}"), s3_bucket_mode="bucket")
    store = await open_storage(settings)
    try:
        await store.create_bucket(Bucket(name, 1.0))
        # The OSS bucket is an S3 bucket of its name, holding the object's record at its key.
        blob = await store.stage(body(b"data"))
        record = await store.commit_object(
            name, "a/b.txt", segments=[blob], etag="E", crc64=1, object_type="Normal", meta=ObjectMeta()
        )
        s3 = store.s3.client  # type: ignore[attr-defined]
        head = await s3.head_object(Bucket=name, Key="a.~b..txt")
        assert head["Metadata"]["ossdoc-type"] == "Normal"
        assert [r.key for r in await store.list_objects(name, "", b"", 10)] == ["a/b.txt"]
        assert b"".join([c async for c in store.read(record)]) == b"data"
        with pytest.raises(errors.OSSError) as info:
            long_blob = await store.stage(body(b"x"))
            await store.commit_object(
                name,
                "k" * (MAX_NAME_BYTES + 1),
                segments=[long_blob],
                etag="E",
                crc64=0,
                object_type="Normal",
                meta=ObjectMeta(),
            )
        assert (info.value.code, info.value.status) == ("InvalidObjectName", 400)
        assert await store.get_object(name, "k" * (MAX_NAME_BYTES + 1)) is None
        with pytest.raises(errors.OSSError) as info:
            await store.delete_bucket(name)
        assert info.value.code == "BucketNotEmpty"
        assert await store.delete_object(name, "a/b.txt")
        await store.delete_bucket(name)
        assert await store.get_bucket(name) is None
        assert name not in [b["Name"] for b in (await s3.list_buckets())["Buckets"]]
    finally:
        await store.close()
