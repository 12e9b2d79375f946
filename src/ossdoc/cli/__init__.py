"""The ``ossdoc`` command: ``serve`` runs the service; the other commands work with a running ossdoc
as ossutil does with OSS (``oss://bucket/key`` paths), and ``keys`` manages its access keys."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ossdoc import __version__
from ossdoc.cli import buckets, keys, objects, process, serve, transfer, usage


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ossdoc",
        description="serve runs ossdoc; the other commands work with a running ossdoc as ossutil does "
        "with OSS (oss://BUCKET/KEY and local paths); keys manages its access keys.",
        epilog="exit codes: 0 done, 1 the server refused (OSS error), 2 usage error, 3 server unreachable, "
        "4 local file error, 5 declined at a confirmation, 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"ossdoc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.add(commands)
    keys.add(commands)
    buckets.add(commands)
    transfer.add(commands)
    objects.add(commands)
    process.add(commands)
    usage.add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code
