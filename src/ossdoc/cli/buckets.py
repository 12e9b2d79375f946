"""``ossdoc mb``, ``rb`` and ``ls``: buckets, and listings of objects (one level, or ``-r``)."""

from __future__ import annotations

import argparse
from typing import Any

from ossdoc.cli.common import add_connection, connect, emit, human_size, oss_path, run


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mb = commands.add_parser("mb", help="make a bucket: ossdoc mb oss://BUCKET")
    mb.add_argument("bucket", metavar="oss://BUCKET")
    mb.add_argument("--acl", choices=["private", "public-read", "public-read-write"], help="bucket ACL")
    rb = commands.add_parser("rb", help="remove an empty bucket: ossdoc rb oss://BUCKET")
    rb.add_argument("bucket", metavar="oss://BUCKET")
    ls = commands.add_parser(
        "ls",
        help="list buckets, or the objects under oss://BUCKET[/PREFIX]",
        description="Without -r, one level: objects directly under the prefix and its sub-'directories'.",
    )
    ls.add_argument("path", nargs="?", default="", metavar="oss://BUCKET[/PREFIX]")
    ls.add_argument("-r", "--recursive", action="store_true", help="every object under the prefix")
    for sub in (mb, rb, ls):
        add_connection(sub)
    mb.set_defaults(handler=lambda a: run("mb", lambda: _mb(a)))
    rb.set_defaults(handler=lambda a: run("rb", lambda: _rb(a)))
    ls.set_defaults(handler=lambda a: run("ls", lambda: _ls(a)))


def _mb(args: argparse.Namespace) -> int:
    path = oss_path(args.bucket)
    headers = {"x-oss-acl": args.acl} if args.acl else {}
    with_client = connect(args)
    try:
        with_client.request("PUT", path.bucket, headers=headers)
    finally:
        with_client.close()
    emit(args, {"Bucket": path.bucket, "Created": True}, lambda: print(f"created oss://{path.bucket}"))
    return 0


def _rb(args: argparse.Namespace) -> int:
    path = oss_path(args.bucket)
    client = connect(args)
    try:
        client.request("DELETE", path.bucket)
    finally:
        client.close()
    emit(args, {"Bucket": path.bucket, "Removed": True}, lambda: print(f"removed oss://{path.bucket}"))
    return 0


def _ls(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        if not args.path:
            buckets = client.list_buckets()

            def human_buckets() -> None:
                for b in buckets:
                    print(f"{b['created']:<26} oss://{b['name']}")
                print(f"{len(buckets)} bucket(s)")

            emit(args, buckets, human_buckets)
            return 0
        path = oss_path(args.path)
        objects: list[dict[str, Any]] = []
        prefixes: list[str] = []
        delimiter = "" if args.recursive else "/"
        for page in client.list_objects(path.bucket, path.key, delimiter):
            objects.extend(page.objects)
            prefixes.extend(page.prefixes)
    finally:
        client.close()

    def human() -> None:
        for prefix in prefixes:
            print(f"{'':<26} {'DIR':>12}  oss://{path.bucket}/{prefix}")
        for o in objects:
            print(f"{o['last_modified']:<26} {human_size(o['size']):>12}  oss://{path.bucket}/{o['key']}")
        total = sum(o["size"] for o in objects)
        print(
            f"{len(objects)} object(s), {human_size(total)}"
            + (f", {len(prefixes)} prefix(es)" if prefixes else "")
        )

    emit(args, {"Bucket": path.bucket, "Objects": objects, "Prefixes": prefixes}, human)
    return 0
