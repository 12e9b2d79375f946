"""``ossdoc rm``, ``cat``, ``stat`` and ``presign``."""

from __future__ import annotations

import argparse
import sys

from ossdoc.cli.common import UsageError, add_connection, confirm, connect, emit, oss_path, run

_BATCH = 1000  # keys per DeleteMultipleObjects, OSS's limit


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rm = commands.add_parser(
        "rm", help="delete an object, or with -r every object under a prefix (asks unless -f)"
    )
    rm.add_argument("path", metavar="oss://BUCKET/KEY")
    rm.add_argument("-r", "--recursive", action="store_true", help="every object under the prefix")
    rm.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    cat = commands.add_parser("cat", help="write an object to standard output")
    cat.add_argument("path", metavar="oss://BUCKET/KEY")
    stat = commands.add_parser("stat", help="an object's metadata (or a bucket's, for oss://BUCKET)")
    stat.add_argument("path", metavar="oss://BUCKET[/KEY]")
    presign = commands.add_parser("presign", help="a URL that works without a key until it expires")
    presign.add_argument("path", metavar="oss://BUCKET/KEY")
    presign.add_argument("--expires", type=int, default=3600, help="seconds the URL is valid (3600)")
    presign.add_argument("--method", default="GET", choices=["GET", "PUT", "HEAD", "DELETE"])
    for sub in (rm, cat, stat, presign):
        add_connection(sub, json_output=sub is not cat)
    rm.set_defaults(handler=lambda a: run("rm", lambda: _rm(a)))
    cat.set_defaults(handler=lambda a: run("cat", lambda: _cat(a)))
    stat.set_defaults(handler=lambda a: run("stat", lambda: _stat(a)))
    presign.set_defaults(handler=lambda a: run("presign", lambda: _presign(a)))


def _rm(args: argparse.Namespace) -> int:
    path = oss_path(args.path)
    client = connect(args)
    try:
        if not args.recursive:
            if not path.key:
                raise UsageError("name an object (oss://BUCKET/KEY), or add -r for everything under a prefix")
            if not args.force:
                confirm(f"delete {path}?")
            client.request("DELETE", path.bucket, path.key)
            deleted = [path.key]
        else:
            deleted = [o["key"] for page in client.list_objects(path.bucket, path.key) for o in page.objects]
            if deleted and not args.force:
                confirm(f"delete {len(deleted)} object(s) under {path}?")
            for start in range(0, len(deleted), _BATCH):
                client.delete_objects(path.bucket, deleted[start : start + _BATCH])
    finally:
        client.close()

    def human() -> None:
        for key in deleted:
            print(f"deleted oss://{path.bucket}/{key}")
        print(f"{len(deleted)} object(s) deleted")

    emit(args, {"Bucket": path.bucket, "Deleted": deleted}, human)
    return 0


def _cat(args: argparse.Namespace) -> int:
    path = oss_path(args.path)
    if not path.key:
        raise UsageError("name an object: oss://BUCKET/KEY")
    client = connect(args)
    try:
        with client.stream("GET", path.bucket, path.key) as reply:
            out = sys.stdout.buffer
            for chunk in reply.iter_bytes(1 << 20):
                out.write(chunk)
            out.flush()
    finally:
        client.close()
    return 0


def _stat(args: argparse.Namespace) -> int:
    path = oss_path(args.path)
    client = connect(args)
    try:
        if path.key:
            reply = client.request("HEAD", path.bucket, path.key)
            info = {k.title(): v for k, v in reply.headers.items() if _interesting(k)}
        else:
            reply = client.request("GET", path.bucket, params={"bucketInfo": ""})
            from defusedxml.ElementTree import fromstring

            bucket = fromstring(reply.content).find("Bucket")
            info = {
                child.tag: child.text or ""
                for child in (bucket if bucket is not None else [])
                if len(child) == 0
            }
    finally:
        client.close()

    def human() -> None:
        width = max((len(k) for k in info), default=0)
        for name, value in info.items():
            print(f"{name:<{width}} : {value}")

    emit(args, info, human)
    return 0


def _interesting(header: str) -> bool:
    header = header.lower()
    return (
        header.startswith("x-oss-") and header not in ("x-oss-request-id", "x-oss-server-time")
    ) or header in (
        "content-length",
        "content-type",
        "etag",
        "last-modified",
        "cache-control",
        "content-disposition",
        "content-encoding",
        "expires",
    )


def _presign(args: argparse.Namespace) -> int:
    path = oss_path(args.path)
    if not path.key:
        raise UsageError("name an object: oss://BUCKET/KEY")
    if args.expires <= 0:
        raise UsageError("--expires must be a positive number of seconds")
    client = connect(args)
    url = client.presign(args.method, path.bucket, path.key, args.expires)
    client.close()
    emit(args, {"URL": url, "Method": args.method, "ExpiresIn": args.expires}, lambda: print(url))
    return 0
