"""Buckets and objects through the console API: folders, pages, uploads in parts, downloads,
metadata, previews, and the errors a user can cause."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Console, make_docx, running
from ossdoc.console import preview as preview_module

pytestmark = pytest.mark.anyio


async def make_bucket(console: Console, name: str = "docs") -> str:
    reply = await console.call("POST", "buckets", json={"name": name})
    assert reply.status_code == 201, reply.text
    return name


async def put(
    console: Console, bucket: str, key: str, data: bytes, content_type: str = ""
) -> dict[str, object]:
    headers = {"Content-Type": content_type} if content_type else {}
    reply = await console.call(
        "PUT", f"buckets/{bucket}/object", params={"key": key}, content=data, headers=headers
    )
    assert reply.status_code == 201, reply.text
    body: dict[str, object] = reply.json()
    return body


async def test_buckets_are_created_listed_and_deleted(signed_in: Console) -> None:
    await make_bucket(signed_in, "first")
    await make_bucket(signed_in, "second")
    names = [b["name"] for b in (await signed_in.call("GET", "buckets")).json()["buckets"]]
    assert names == ["first", "second"]
    assert (await signed_in.call("DELETE", "buckets/first")).json() == {"deleted": "first"}
    names = [b["name"] for b in (await signed_in.call("GET", "buckets")).json()["buckets"]]
    assert names == ["second"]


@pytest.mark.parametrize(
    ("body", "code", "status"),
    [
        ({"name": "Bad_Name"}, "InvalidBucketName", 400),
        ({"name": "ok-name", "acl": "everyone"}, "InvalidArgument", 400),
        ({"name": 42}, "InvalidArgument", 400),
        ({}, "InvalidArgument", 400),
    ],
)
async def test_a_bad_bucket_is_refused(
    signed_in: Console, body: dict[str, object], code: str, status: int
) -> None:
    reply = await signed_in.call("POST", "buckets", json=body)
    assert reply.status_code == status and reply.json()["Code"] == code
    assert reply.json()["Message"]


async def test_a_taken_name_and_a_full_bucket_say_so(signed_in: Console) -> None:
    bucket = await make_bucket(signed_in)
    again = await signed_in.call("POST", "buckets", json={"name": bucket})
    assert again.status_code == 409 and again.json()["Code"] == "BucketAlreadyExists"
    await put(signed_in, bucket, "a.txt", b"a")
    full = await signed_in.call("DELETE", f"buckets/{bucket}")
    assert full.status_code == 409 and full.json()["Code"] == "BucketNotEmpty"
    assert "delete its objects" in full.json()["Message"]
    missing = await signed_in.call("DELETE", "buckets/no-such-bucket")
    assert missing.status_code == 404 and missing.json()["Code"] == "NoSuchBucket"


async def test_folders_and_pages(signed_in: Console) -> None:
    bucket = await make_bucket(signed_in)
    for key in ["top.txt", "reports/2025/q1.txt", "reports/2025/q2.txt", "reports/summary.txt", "zz.txt"]:
        await put(signed_in, bucket, key, key.encode())
    root = (await signed_in.call("GET", f"buckets/{bucket}/objects")).json()
    assert root["folders"] == ["reports/"]
    assert [o["key"] for o in root["objects"]] == ["top.txt", "zz.txt"]
    inner = (await signed_in.call("GET", f"buckets/{bucket}/objects", params={"prefix": "reports/"})).json()
    assert inner["folders"] == ["reports/2025/"] and [o["key"] for o in inner["objects"]] == [
        "reports/summary.txt"
    ]
    # Pages of two entries, folders counted as entries, as ListObjects does.
    seen, marker = [], ""
    for _ in range(5):
        page = (
            await signed_in.call("GET", f"buckets/{bucket}/objects", params={"max": 2, "marker": marker})
        ).json()
        seen += page["folders"] + [o["key"] for o in page["objects"]]
        if not page["truncated"]:
            break
        marker = page["nextMarker"]
    assert seen == ["reports/", "top.txt", "zz.txt"]
    bad = await signed_in.call("GET", f"buckets/{bucket}/objects", params={"max": 0})
    assert bad.status_code == 400 and bad.json()["Message"] == "max must be between 1 and 1000."


async def test_an_object_is_uploaded_described_downloaded_and_deleted(signed_in: Console) -> None:
    bucket = await make_bucket(signed_in)
    record = await put(signed_in, bucket, "notes/hello world.txt", "héllo".encode(), "text/plain")
    assert record["size"] == 6
    meta = (
        await signed_in.call("GET", f"buckets/{bucket}/object", params={"key": "notes/hello world.txt"})
    ).json()
    assert meta["contentType"] == "text/plain" and meta["size"] == 6 and meta["crc64"]
    download = await signed_in.call(
        "GET", f"buckets/{bucket}/download", params={"key": "notes/hello world.txt"}
    )
    assert download.content == "héllo".encode()
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''hello%20world.txt"
    assert download.headers["content-security-policy"] == "sandbox"
    deleted = await signed_in.call(
        "DELETE", f"buckets/{bucket}/object", params={"key": "notes/hello world.txt"}
    )
    assert deleted.json() == {"deleted": "notes/hello world.txt"}
    gone = await signed_in.call("GET", f"buckets/{bucket}/object", params={"key": "notes/hello world.txt"})
    assert gone.status_code == 404 and gone.json()["Code"] == "NoSuchKey"


async def test_keys_are_checked(signed_in: Console) -> None:
    bucket = await make_bucket(signed_in)
    reply = await signed_in.call("PUT", f"buckets/{bucket}/object", params={"key": "/abs"}, content=b"x")
    assert reply.status_code == 400 and reply.json()["Code"] == "InvalidObjectName"
    reply = await signed_in.call("GET", f"buckets/{bucket}/object")
    assert reply.status_code == 400 and reply.json()["Message"] == "The query parameter key is required."
    reply = await signed_in.call("PUT", "buckets/nobucket/object", params={"key": "k"}, content=b"x")
    assert reply.status_code == 404 and reply.json()["Code"] == "NoSuchBucket"


async def test_a_large_file_goes_up_in_parts(signed_in: Console) -> None:
    bucket = await make_bucket(signed_in)
    started = await signed_in.call("POST", f"buckets/{bucket}/uploads", json={"key": "big.bin"})
    assert started.status_code == 201
    upload = started.json()["uploadId"]
    parts = [b"a" * (128 * 1024), b"b" * 1000]
    for number, data in enumerate(parts, 1):
        reply = await signed_in.call(
            "PUT",
            f"buckets/{bucket}/uploads/{upload}",
            params={"key": "big.bin", "part": number},
            content=data,
        )
        assert reply.status_code == 200 and reply.json()["size"] == len(data)
    bad = await signed_in.call(
        "PUT", f"buckets/{bucket}/uploads/{upload}", params={"key": "big.bin", "part": 0}, content=b"x"
    )
    assert bad.status_code == 400 and "Part number" in bad.json()["Message"]
    done = await signed_in.call(
        "POST", f"buckets/{bucket}/uploads/{upload}/complete", params={"key": "big.bin"}
    )
    assert done.status_code == 201 and done.json()["size"] == sum(map(len, parts))
    assert done.json()["type"] == "Multipart"
    download = await signed_in.call("GET", f"buckets/{bucket}/download", params={"key": "big.bin"})
    assert download.content == b"".join(parts)
    again = await signed_in.call(
        "POST", f"buckets/{bucket}/uploads/{upload}/complete", params={"key": "big.bin"}
    )
    assert again.status_code == 404 and again.json()["Code"] == "NoSuchUpload"


async def test_an_upload_can_be_abandoned(signed_in: Console) -> None:
    bucket = await make_bucket(signed_in)
    upload = (await signed_in.call("POST", f"buckets/{bucket}/uploads", json={"key": "x.bin"})).json()[
        "uploadId"
    ]
    await signed_in.call(
        "PUT", f"buckets/{bucket}/uploads/{upload}", params={"key": "x.bin", "part": 1}, content=b"1"
    )
    assert (
        await signed_in.call("DELETE", f"buckets/{bucket}/uploads/{upload}", params={"key": "x.bin"})
    ).status_code == 200
    assert (await signed_in.call("DELETE", f"buckets/{bucket}")).status_code == 200  # nothing left in it


async def test_previews_show_text_and_the_text_of_documents(signed_in: Console) -> None:
    bucket = await make_bucket(signed_in)
    await put(signed_in, bucket, "report.docx", make_docx("Quarterly report", "Sales grew by ten percent."))
    await put(signed_in, bucket, "note.md", b"# Title\n\nSome *text*.")
    await put(signed_in, bucket, "logo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    docx = (await signed_in.call("GET", f"buckets/{bucket}/preview", params={"key": "report.docx"})).json()
    assert docx["kind"] == "docx" and "Sales grew by ten percent." in docx["text"] and not docx["truncated"]
    text = (await signed_in.call("GET", f"buckets/{bucket}/preview", params={"key": "note.md"})).json()
    assert text == {"kind": "text", "text": "# Title\n\nSome *text*.", "truncated": False}
    image = await signed_in.call("GET", f"buckets/{bucket}/preview", params={"key": "logo.png"})
    assert image.status_code == 400 and "is of type image/png" in image.json()["Message"]


async def test_a_large_text_object_previews_its_beginning(tmp_path: Path) -> None:
    async with running(tmp_path / "data", max_document_bytes=100_000) as console:
        await console.sign_in()
        bucket = await make_bucket(console)
        text = "a" + "é" * 150_000  # 300 KB, beyond what is processed whole
        await put(console, bucket, "long.txt", text.encode())
        preview = (await console.call("GET", f"buckets/{bucket}/preview", params={"key": "long.txt"})).json()
        assert preview == {"kind": "text", "text": text[: preview_module.PREVIEW_CHARS], "truncated": True}


def test_the_beginning_of_a_text_keeps_whole_characters() -> None:
    assert preview_module.head_text(b"a" + "\u00e9".encode() * 3 + b"\xc3", "k") == "a\u00e9\u00e9\u00e9"
    utf16 = "\ufeffhi".encode("utf-16-le")  # with its BOM
    assert preview_module.head_text(utf16 + b"x", "k") == "hi"


async def test_a_folder_is_deleted_with_everything_in_it(signed_in: Console) -> None:
    bucket = await make_bucket(signed_in)
    for key in ["keep.txt", "old/", "old/a.txt", "old/deep/b.txt", "older.txt"]:
        await put(signed_in, bucket, key, b"x")
    reply = await signed_in.call("DELETE", f"buckets/{bucket}/folder", params={"prefix": "old/"})
    assert reply.json() == {"deleted": 3, "prefix": "old/"}
    listed = (await signed_in.call("GET", f"buckets/{bucket}/objects")).json()
    assert listed["folders"] == [] and [o["key"] for o in listed["objects"]] == ["keep.txt", "older.txt"]
    bad = await signed_in.call("DELETE", f"buckets/{bucket}/folder", params={"prefix": "old"})
    assert bad.status_code == 400 and bad.json()["Message"] == "prefix must name a folder: end it with /."
