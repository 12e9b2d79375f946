"""SIGKILL the server during concurrent uploads, again and again: every key must read back as one
complete version that was written to it, none acknowledged may be lost, and the server must restart."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import oss2
import pytest

from ossdoc_server import start

KEYS = [f"crash/{i}" for i in range(6)]
ROUNDS = 8


def content(key: str, version: int) -> bytes:
    rng = random.Random(f"{key}#{version}")
    size = rng.choice([10, 5_000, 300_000, 2_500_000])
    return f"{key}#{version}#".encode() + rng.randbytes(size)


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


@pytest.mark.timeout(600)
def test_sigkill_during_concurrent_uploads(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    srv = start(data_dir)
    port = srv.port
    rng = random.Random(7)
    auth = oss2.Auth(srv.access_key_id, srv.access_key_secret)
    oss2.Bucket(auth, srv.endpoint, "crash").create_bucket()
    history: dict[str, list[int]] = {key: [] for key in KEYS}
    last_acked: dict[str, int | None] = dict.fromkeys(KEYS)
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

            srv = start(data_dir, port=port)
            bucket = oss2.Bucket(auth, srv.endpoint, "crash")
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
            assert not list((data_dir / "objects" / "tmp").iterdir())
    finally:
        srv.stop()
