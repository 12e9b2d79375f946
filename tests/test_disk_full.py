"""A data directory whose filesystem fills up: every kind of write (simple, multipart part, append,
copy, and a tiny PUT on a completely full disk) gets a clear OSS error, objects written before are
intact, and once space is freed the same server goes on storing without a restart.

Runs on a 16 MiB tmpfs that the test mounts (root in CI); skipped when mounting is not permitted."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import alibabacloud_oss_v2 as oss
import oss2
import pytest

from ossdoc_server import RunningServer, running

SIZE_MB = 16
MARGIN = 64 * 1024  # left free by the filler: less than any write below needs


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "fs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(mount: Path, leave: int) -> Path:
    """Take all free space of ``mount`` but ``leave`` bytes with a file outside the data dir."""
    filler = mount / "filler"
    stat = os.statvfs(mount)
    free = stat.f_bavail * stat.f_frsize
    with filler.open("ab") as out:
        remaining = max(0, free - leave)
        chunk = b"\0" * (1 << 20)
        try:
            while remaining > 0:
                remaining -= out.write(chunk[: min(len(chunk), remaining)])
        except OSError:
            pass
    return filler


def assert_storage_full(error: oss2.exceptions.OssError) -> None:
    assert (error.status, error.code) == (500, "InternalError"), error
    assert "storage is full" in error.message


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_writes_on_a_full_disk(small_fs: Path) -> None:
    with running(small_fs / "data", fsync="1") as server:
        check_full_disk(server, small_fs)


def check_full_disk(server: RunningServer, mount: Path) -> None:
    auth = oss2.Auth(server.access_key_id, server.access_key_secret)
    bucket = oss2.Bucket(auth, server.endpoint, f"full-{uuid.uuid4().hex[:8]}")
    bucket.create_bucket()
    before = {f"keep-{i}": os.urandom(100_000 + i) for i in range(3)}
    before["source"] = os.urandom(512 * 1024)
    for key, data in before.items():
        bucket.put_object(key, data)
    bucket.append_object("log", 0, b"first line\n")
    before["log"] = b"first line\n"
    upload_id = bucket.init_multipart_upload("mp").upload_id
    bucket.upload_part("mp", upload_id, 1, b"p" * 200_000)

    filler = fill(mount, MARGIN)
    big = os.urandom(1024 * 1024)
    writes = {
        "simple PUT": lambda: bucket.put_object("new", big),
        "multipart part": lambda: bucket.upload_part("mp", upload_id, 2, big),
        "append": lambda: bucket.append_object("log", len(before["log"]), big),
    }
    for name, write in writes.items():
        with pytest.raises(oss2.exceptions.OssError) as info:
            write()
            pytest.fail(f"{name} was stored on a full disk")
        assert_storage_full(info.value)
    assert not bucket.object_exists("new")
    # A copy shares the source's blob (a hard link): it needs room for its metadata only.
    bucket.copy_object(bucket.bucket_name, "source", "copy")
    bucket.delete_object("copy")
    # Completely full: not even a few bytes, or the metadata of a copy, can be stored.
    fill(mount, 0)
    for name, write in {
        "tiny PUT": lambda: bucket.put_object("tiny", b"x"),
        "copy": lambda: bucket.copy_object(bucket.bucket_name, "source", "copy"),
        "metadata only": lambda: bucket.put_object_acl("keep-0", oss2.OBJECT_ACL_PUBLIC_READ),
    }.items():
        with pytest.raises(oss2.exceptions.OssError) as info:
            write()
            pytest.fail(f"{name} was stored on a full disk")
        assert_storage_full(info.value)
    assert not bucket.object_exists("tiny") and not bucket.object_exists("copy")
    v2 = v2_client(server)
    with pytest.raises(oss.exceptions.OperationError) as v2_info:
        v2.put_object(oss.PutObjectRequest(bucket=bucket.bucket_name, key="tiny", body=b"x"))
    assert v2_info.value.unwrap().code == "InternalError"

    # Nothing written earlier is lost or damaged, and reads still work on the full disk.
    for key, data in before.items():
        assert digest(bucket.get_object(key).read()) == digest(data), key
    assert [p.part_number for p in bucket.list_parts("mp", upload_id).parts] == [1]
    # No partial upload left behind: the staging area holds only the live processes' own (empty)
    # directories and their lock files.
    staged = [p for p in (server.data / "objects" / "tmp").rglob("*") if p.is_file()]
    assert all(p.suffix == ".lock" and p.parent.name == "tmp" for p in staged), staged

    filler.unlink()  # space is back: the same server process goes on
    assert server.process.poll() is None
    bucket.put_object("new", big)
    assert digest(bucket.get_object("new").read()) == digest(big)
    bucket.upload_part("mp", upload_id, 2, big)
    parts = bucket.list_parts("mp", upload_id).parts
    bucket.complete_multipart_upload(
        "mp", upload_id, [oss2.models.PartInfo(p.part_number, p.etag) for p in parts]
    )
    assert bucket.head_object("mp").content_length == 200_000 + len(big)
    bucket.append_object("log", len(before["log"]), b"second line\n")
    assert bucket.get_object("log").read() == b"first line\nsecond line\n"
    bucket.copy_object(bucket.bucket_name, "source", "copy")
    assert digest(bucket.get_object("copy").read()) == digest(before["source"])
    for key, data in before.items():
        if key != "log":
            assert digest(bucket.get_object(key).read()) == digest(data), key


def v2_client(server: RunningServer) -> oss.Client:
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        server.access_key_id, server.access_key_secret
    )
    cfg.region, cfg.endpoint = "cn-hangzhou", server.endpoint
    cfg.retry_max_attempts = 1
    return oss.Client(cfg)
