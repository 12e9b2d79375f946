"""SIGKILL the server during concurrent uploads, again and again: every key must read back as one
complete version that was written to it, none acknowledged may be lost, and the server must restart.

Besides a few writers of large objects, many threads write and delete small objects (the group
commit path: their bodies and metadata are committed in batches), and the server compacts its
database as soon as a page is free, so kills also land during compactions."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import oss2
import pytest

from ossdoc_server import start

KEYS = [f"crash/{i}" for i in range(6)]
SMALL_KEYS = [f"small/{i}" for i in range(12)]
ROUNDS = 8


def content(key: str, version: int) -> bytes:
    rng = random.Random(f"{key}#{version}")
    sizes = [0, 100, 4_096, 30_000, 60_000] if key.startswith("small/") else [10, 5_000, 300_000, 2_500_000]
    return f"{key}#{version}#".encode() + rng.randbytes(rng.choice(sizes))


def writer(
    bucket: oss2.Bucket,
    key: str,
    attempted: list[int],
    acked: list[int],
    stop: threading.Event,
    start_version: int,
) -> None:
    version = start_version
    while not stop.is_set():
        version += 1
        attempted.append(version)
        try:
            if version % 3 == 0:
                upload_id = bucket.init_multipart_upload(key).upload_id
                data = content(key, version)
                parts = [bucket.upload_part(key, upload_id, 1, data)]
                bucket.complete_multipart_upload(key, upload_id, [oss2.models.PartInfo(1, parts[0].etag)])
            else:
                bucket.put_object(key, content(key, version))
        except Exception:
            return  # the server died under us
        acked.append(version)


def small_writer(
    bucket: oss2.Bucket, key: str, acked: list[int], stop: threading.Event, version: int
) -> None:
    """Write ``key`` and delete it after every odd version; a delete is acknowledged as the version
    it deleted, negated."""
    try:
        while not stop.is_set():
            version += 1
            bucket.put_object(key, content(key, version))
            acked.append(version)
            if version % 2:
                bucket.delete_object(key)
                acked.append(-version)
    except Exception:
        return  # the server died under us


def check_small(bucket: oss2.Bucket, key: str, known: int | None, acked: list[int], first: int) -> int | None:
    """The version ``key`` holds (None: absent), after checking it against what was acknowledged
    since it was last seen (``known``) and the round's first version."""
    version = None
    if bucket.object_exists(key):
        got = bucket.get_object(key).read()
        version = int(got.split(b"#")[1])
        assert got == content(key, version), f"{key}: torn content"
    if not acked:
        allowed = {known, first + 1}
    elif acked[-1] < 0:  # deleted, then perhaps wrote the next version
        allowed = {None, -acked[-1] + 1}
    elif acked[-1] % 2:  # wrote an odd version, then perhaps deleted it
        allowed = {None, acked[-1]}
    else:
        allowed = {acked[-1], acked[-1] + 1}
    assert version in allowed, f"{key}: holds {version} after acknowledgements ending in {acked[-1:]}"
    return version


@pytest.mark.timeout(600)
def test_sigkill_during_concurrent_uploads(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # Compaction as soon as a page is free; its log lines show it ran in the servers killed.
    settings = {"compact_bytes": "1", "log_level": "info"}
    srv = start(data_dir, **settings)
    port = srv.port
    rng = random.Random(7)
    auth = oss2.Auth(srv.access_key_id, srv.access_key_secret)
    oss2.Bucket(auth, srv.endpoint, "crash").create_bucket()
    history: dict[str, list[int]] = {key: [] for key in KEYS}
    last_acked: dict[str, int | None] = dict.fromkeys(KEYS)
    small_known: dict[str, int | None] = dict.fromkeys(SMALL_KEYS)
    try:
        for round_no in range(ROUNDS):
            bucket = oss2.Bucket(auth, srv.endpoint, "crash", connect_timeout=5)
            stop = threading.Event()
            acked: dict[str, list[int]] = {key: [] for key in KEYS}
            threads = [
                threading.Thread(
                    target=writer,
                    args=(bucket, key, history[key], acked[key], stop, round_no * 10_000),
                    daemon=True,
                )
                for key in KEYS
            ]
            small_acked: dict[str, list[int]] = {key: [] for key in SMALL_KEYS}
            threads += [
                threading.Thread(
                    target=small_writer,
                    args=(bucket, key, small_acked[key], stop, round_no * 10_000),
                    daemon=True,
                )
                for key in SMALL_KEYS
            ]
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.3, 1.5))
            srv.kill()
            stop.set()
            for thread in threads:
                thread.join(30)
            for key in KEYS:
                if acked[key]:
                    last_acked[key] = acked[key][-1]

            srv = start(data_dir, port=port, **settings)
            bucket = oss2.Bucket(auth, srv.endpoint, "crash")
            for key in SMALL_KEYS:
                first = round_no * 10_000
                small_known[key] = check_small(bucket, key, small_known[key], small_acked[key], first)
            for key in KEYS:
                if not bucket.object_exists(key):
                    assert last_acked[key] is None, f"{key}: acknowledged version {last_acked[key]} lost"
                    continue
                got = bucket.get_object(key).read()
                version = int(got.split(b"#")[1])
                assert version in history[key]
                assert got == content(key, version), f"{key}: torn content"
                acked_version = last_acked[key]
                assert acked_version is None or version >= acked_version, f"{key}: went back before an ack"
                last_acked[key] = version
            # Only the new server's own staging directory (and its lock), empty.
            staging = list((data_dir / "objects" / "tmp").iterdir())
            assert len(staging) == 2 and not any(p.is_dir() and any(p.iterdir()) for p in staging)
            listed = {obj.key for obj in oss2.ObjectIterator(bucket)}
            assert listed == {key for key in [*KEYS, *SMALL_KEYS] if bucket.object_exists(key)}
    finally:
        srv.stop()
    logs = "".join(path.read_text() for path in tmp_path.glob("data-server-*.log"))
    assert "compacted the object database" in logs
