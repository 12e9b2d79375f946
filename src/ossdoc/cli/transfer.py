"""``ossdoc cp``: local → ossdoc, ossdoc → local, ossdoc → ossdoc (a server-side copy); ``-r`` for
directories and prefixes. Files from ``--bigfile-threshold`` up go in parts and resume after an
interruption (checkpoints in ``--checkpoint-dir``); one progress bar counts every byte."""

from __future__ import annotations

import argparse
import mimetypes
import threading
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from tqdm import tqdm

from ossdoc.cli import resumable
from ossdoc.cli.api import Client
from ossdoc.cli.common import UsageError, add_connection, connect, emit, is_oss, oss_path, run
from ossdoc.crc64 import crc64

MiB = 1024 * 1024


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cp = commands.add_parser(
        "cp",
        help="copy files to and from ossdoc: cp [-r] SOURCE DESTINATION",
        description="SOURCE and DESTINATION are local paths or oss://BUCKET/KEY; a destination ending in "
        "'/' (or an existing directory) receives the source under its own name.",
    )
    cp.add_argument("source")
    cp.add_argument("destination")
    cp.add_argument(
        "-r", "--recursive", action="store_true", help="a directory, or every object under a prefix"
    )
    cp.add_argument(
        "--bigfile-threshold", type=int, default=64 * MiB, help="bytes from which files go in parts"
    )
    cp.add_argument("--part-size", type=int, default=8 * MiB, help="bytes in each part (8 MiB)")
    cp.add_argument("-j", "--parallel", type=int, default=3, help="parts uploaded at once (3)")
    cp.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=Path(".ossdoc_checkpoint"),
        help="where interrupted transfers are recorded (./.ossdoc_checkpoint)",
    )
    cp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_connection(cp)
    cp.set_defaults(handler=lambda a: run("cp", lambda: _cp(a), lambda: a.endpoint or ""))


class _Copier:
    def __init__(self, args: argparse.Namespace, client: Client, total: int) -> None:
        self.args, self.client = args, client
        quiet = args.quiet or args.json
        self.bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, disable=quiet, leave=True)
        self.lock = threading.Lock()
        self.files: list[dict[str, Any]] = []

    def progress(self, n: int) -> None:
        with self.lock:
            self.bar.update(n)

    def upload(self, source: Path, bucket: str, key: str) -> None:
        size = source.stat().st_size
        record: dict[str, Any] = {"Source": str(source), "Destination": f"oss://{bucket}/{key}", "Size": size}
        if size >= self.args.bigfile_threshold:
            outcome = resumable.upload(
                self.client,
                source,
                bucket,
                key,
                part_size=self.args.part_size,
                checkpoint_dir=self.args.checkpoint_dir,
                parallel=self.args.parallel,
                progress=self.progress,
            )
            record.update(
                Parts=outcome.parts, PartsUploaded=outcome.transferred, ResumedBytes=outcome.resumed_bytes
            )
        else:
            headers = {"Content-Length": str(size)}
            kind = mimetypes.guess_type(source.name)[0]
            if kind:
                headers["Content-Type"] = kind
            crc = [0]
            reply = self.client.request("PUT", bucket, key, headers=headers, content=self._read(source, crc))
            resumable._check(reply.headers.get("x-oss-hash-crc64ecma"), crc[0], record["Destination"])
        self.files.append(record)

    def _read(self, source: Path, crc: list[int]) -> Iterator[bytes]:
        with source.open("rb") as fh:
            while chunk := fh.read(MiB):
                crc[0] = crc64(chunk, crc[0])
                self.progress(len(chunk))
                yield chunk

    def download(self, bucket: str, key: str, target: Path, size: int, etag: str) -> None:
        record: dict[str, Any] = {"Source": f"oss://{bucket}/{key}", "Destination": str(target), "Size": size}
        big = size >= self.args.bigfile_threshold
        outcome = resumable.download(
            self.client,
            bucket,
            key,
            target,
            etag=etag,
            size=size,
            checkpoint_dir=self.args.checkpoint_dir if big else None,
            checkpoint_bytes=self.args.part_size,
            progress=self.progress,
        )
        if big:
            record.update(ResumedBytes=outcome.resumed_bytes)
        self.files.append(record)

    def copy(self, source: str, destination: str, size: int) -> None:
        src, dst = oss_path(source), oss_path(destination)
        headers = {"x-oss-copy-source": f"/{src.bucket}/{quote(src.key, safe='/')}"}
        self.client.request("PUT", dst.bucket, dst.key, headers=headers)
        self.progress(size)
        self.files.append({"Source": source, "Destination": destination, "Size": size})


def _cp(args: argparse.Namespace) -> int:
    source, destination = args.source, args.destination
    if args.part_size < 100 * 1024:
        raise UsageError("--part-size must be at least 100 KiB (OSS's smallest part)")
    client = connect(args)
    try:
        if not is_oss(source) and is_oss(destination):
            jobs = _uploads(args, Path(source), destination)
            copier = _Copier(args, client, sum(p.stat().st_size for p, _, _ in jobs))
            for path, bucket, key in jobs:
                copier.upload(path, bucket, key)
        elif is_oss(source) and not is_oss(destination):
            downloads = _downloads(args, client, source, Path(destination))
            copier = _Copier(args, client, sum(d[3] for d in downloads))
            for bucket, key, target, size, etag in downloads:
                copier.download(bucket, key, target, size, etag)
        elif is_oss(source) and is_oss(destination):
            copies = _copies(args, client, source, destination)
            copier = _Copier(args, client, sum(size for _, _, size in copies))
            for src, dst, size in copies:
                copier.copy(src, dst, size)
        else:
            raise UsageError("SOURCE or DESTINATION must be an oss:// path (local copies: the system's cp)")
    finally:
        client.close()
    copier.bar.close()
    total = sum(f["Size"] for f in copier.files)
    emit(
        args,
        {"Files": copier.files, "Bytes": total},
        lambda: print(f"copied {len(copier.files)} file(s), {total} bytes"),
    )
    return 0


def _uploads(args: argparse.Namespace, source: Path, destination: str) -> list[tuple[Path, str, str]]:
    dst = oss_path(destination)
    if source.is_dir():
        if not args.recursive:
            raise UsageError(f"{source} is a directory: add -r")
        prefix = dst.key if not dst.key or dst.key.endswith("/") else dst.key + "/"
        files = sorted(p for p in source.rglob("*") if p.is_file())
        return [(p, dst.bucket, prefix + p.relative_to(source).as_posix()) for p in files]
    if not source.exists():
        raise FileNotFoundError(2, "No such file or directory", str(source))
    key = dst.key + source.name if not dst.key or dst.key.endswith("/") else dst.key
    return [(source, dst.bucket, key)]


def _downloads(
    args: argparse.Namespace, client: Client, source: str, target: Path
) -> list[tuple[str, str, Path, int, str]]:
    src = oss_path(source)
    if args.recursive:
        found = []
        for page in client.list_objects(src.bucket, src.key):
            for o in page.objects:
                if o["key"].endswith("/"):  # a "folder" marker: the folder is made by its files
                    continue
                relative = o["key"][len(src.key) :].lstrip("/") or PurePosixPath(o["key"]).name
                found.append((src.bucket, o["key"], target / _safe(relative, o["key"]), o["size"], o["etag"]))
        return found
    if not src.key:
        raise UsageError(f"{source} is a bucket: add -r to copy its objects")
    head = client.request("HEAD", src.bucket, src.key)
    name = PurePosixPath(src.key).name
    if target.is_dir() or str(target).endswith("/"):
        target = target / _safe(name, src.key)
    size = int(head.headers.get("content-length", "0"))
    return [(src.bucket, src.key, target, size, head.headers.get("etag", "").strip('"'))]


def _copies(
    args: argparse.Namespace, client: Client, source: str, destination: str
) -> list[tuple[str, str, int]]:
    src, dst = oss_path(source), oss_path(destination)
    if not args.recursive:
        if not src.key:
            raise UsageError(f"{source} is a bucket: add -r to copy its objects")
        size = int(client.request("HEAD", src.bucket, src.key).headers.get("content-length", "0"))
        key = dst.key + PurePosixPath(src.key).name if not dst.key or dst.key.endswith("/") else dst.key
        return [(source, f"oss://{dst.bucket}/{key}", size)]
    prefix = dst.key if not dst.key or dst.key.endswith("/") else dst.key + "/"
    return [
        (
            f"oss://{src.bucket}/{o['key']}",
            f"oss://{dst.bucket}/{prefix}{o['key'][len(src.key) :].lstrip('/')}",
            o["size"],
        )
        for page in client.list_objects(src.bucket, src.key)
        for o in page.objects
    ]


def _safe(relative: str, key: str) -> PurePosixPath:
    """A key as a relative local path; a key that would climb out of the destination is refused."""
    path = PurePosixPath(relative)
    if not relative or path.is_absolute() or ".." in path.parts:
        raise UsageError(f"object key {key!r} cannot be written under the destination directory")
    return path
