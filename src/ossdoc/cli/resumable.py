"""Transfers of large files that survive an interruption, as ossutil's ``--checkpoint-dir`` does.

An upload is a multipart upload whose id and finished parts (ETag and CRC-64 of each) are written to
a checkpoint file after every part; run again, it asks the server which parts it holds and uploads
only the others. A download streams into ``<file>.ossdoc-part`` and records, after each fsync, how
many bytes are safely there; run again, it continues from that offset with a Range request that
only matches the same object version (``If-Match``). Both check the whole file's CRC-64 against the
server's ``x-oss-hash-crc64ecma`` at the end, and delete their checkpoint."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ossdoc.cli.api import Client, OSSClientError
from ossdoc.cli.common import CopyError
from ossdoc.crc64 import combine, crc64

Progress = Callable[[int], None]  # called with a number of bytes just transferred


@dataclass(frozen=True)
class Outcome:
    parts: int  # parts (or checkpoints, for a download) in the whole transfer
    transferred: int  # of them, done in this run
    resumed_bytes: int  # bytes found done by an earlier, interrupted run


def _checkpoint(directory: Path, kind: str, *names: str) -> Path:
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:32]
    return directory / f"{digest}.{kind}.json"


def _load(path: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(path.read_text())
        return state
    except (OSError, ValueError):
        return None


def _save(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)  # a kill leaves the previous checkpoint or this one, never half of one


def upload(
    client: Client,
    source: Path,
    bucket: str,
    key: str,
    *,
    part_size: int,
    checkpoint_dir: Path,
    parallel: int,
    progress: Progress,
) -> Outcome:
    st = source.stat()
    size = st.st_size
    checkpoint = _checkpoint(checkpoint_dir, "upload", str(source.resolve()), bucket, key)
    state = _load(checkpoint)
    same_file = {"size": size, "mtime_ns": st.st_mtime_ns, "part_size": part_size}
    held: dict[int, str] = {}
    if state is not None and all(state.get(k) == v for k, v in same_file.items()):
        try:
            held = client.list_parts(bucket, key, state["upload_id"])
        except OSSClientError as exc:
            if exc.code != "NoSuchUpload":
                raise
            state = None
    else:
        state = None
    if state is None:
        state = {**same_file, "upload_id": client.initiate(bucket, key), "parts": {}}
        _save(checkpoint, state)
    upload_id = state["upload_id"]
    count = max(1, -(-size // part_size))
    # A part counts as done only if the server still holds it with the ETag recorded.
    parts: dict[int, dict[str, Any]] = {
        int(n): p for n, p in state["parts"].items() if held.get(int(n)) == p["etag"]
    }
    resumed = sum(min(part_size, size - (n - 1) * part_size) for n in parts)
    progress(resumed)
    lock = threading.Lock()

    def send(number: int) -> None:
        with source.open("rb") as fh:
            fh.seek((number - 1) * part_size)
            data = fh.read(part_size)
        etag = client.upload_part(bucket, key, upload_id, number, data)
        with lock:
            parts[number] = {"etag": etag, "crc": crc64(data), "size": len(data)}
            state["parts"] = {str(n): p for n, p in parts.items()}
            _save(checkpoint, state)
        progress(len(data))

    todo = [n for n in range(1, count + 1) if n not in parts]
    pool = ThreadPoolExecutor(max(1, parallel))
    try:
        futures = [pool.submit(send, n) for n in todo]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            future.result()  # the first failure, if any
    finally:
        # On a failure or Ctrl-C, the parts in flight finish (and are checkpointed); no new one starts.
        pool.shutdown(wait=True, cancel_futures=True)
    reply = client.complete(bucket, key, upload_id, {n: p["etag"] for n, p in parts.items()})
    local = 0
    for n in sorted(parts):
        local = combine(local, parts[n]["crc"], parts[n]["size"])
    _check(reply.headers.get("x-oss-hash-crc64ecma"), local, f"oss://{bucket}/{key}")
    _done(checkpoint)
    return Outcome(count, len(todo), resumed)


def download(
    client: Client,
    bucket: str,
    key: str,
    target: Path,
    *,
    etag: str,
    size: int,
    checkpoint_dir: Path | None,
    checkpoint_bytes: int,
    progress: Progress,
) -> Outcome:
    """Download into ``target``; with ``checkpoint_dir`` None (small files), without a checkpoint."""
    partial = target.with_name(target.name + ".ossdoc-part")
    if checkpoint_dir is None:
        checkpoint = None
        state = None
    else:
        checkpoint = _checkpoint(checkpoint_dir, "download", bucket, key, str(target.resolve()))
        state = _load(checkpoint)
    offset = 0
    if state is not None and state.get("etag") == etag and state.get("size") == size and partial.exists():
        offset = int(state["offset"])
    state = {"etag": etag, "size": size, "offset": offset}
    if checkpoint is not None:
        _save(checkpoint, state)
    progress(offset)
    resumed, pieces = offset, 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with partial.open("r+b" if offset else "wb") as out:
        out.truncate(offset)  # bytes past the last checkpoint may not have reached the disk
        out.seek(offset)
        if offset < size:
            headers = {"Range": f"bytes={offset}-", "If-Match": f'"{etag}"'}
            with client.stream("GET", bucket, key, headers=headers) as reply:
                unsaved = 0
                for chunk in reply.iter_bytes(1 << 20):
                    out.write(chunk)
                    offset += len(chunk)
                    unsaved += len(chunk)
                    progress(len(chunk))
                    if checkpoint is not None and unsaved >= checkpoint_bytes:
                        out.flush()
                        os.fsync(out.fileno())
                        _save(checkpoint, {**state, "offset": offset})
                        unsaved, pieces = 0, pieces + 1
        out.flush()
        os.fsync(out.fileno())
    expected = client.request("HEAD", bucket, key, headers={"If-Match": f'"{etag}"'})
    _check(expected.headers.get("x-oss-hash-crc64ecma"), _file_crc(partial), f"oss://{bucket}/{key}")
    os.replace(partial, target)
    if checkpoint is not None:
        _done(checkpoint)
    return Outcome(max(1, -(-size // checkpoint_bytes)), pieces + 1, resumed)


def _done(checkpoint: Path) -> None:
    checkpoint.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        checkpoint.parent.rmdir()  # the directory goes with its last checkpoint


def _file_crc(path: Path) -> int:
    value = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            value = crc64(chunk, value)
    return value


def _check(server: str | None, local: int, name: str) -> None:
    if server is not None and server != str(local):
        raise CopyError(f"{name}: CRC-64 {local} here, {server} on the server: the copy is corrupt")
