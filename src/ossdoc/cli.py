"""The ``ossdoc`` command: ``serve`` runs the service; ``process`` runs a document operation."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import fields
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from ossdoc import __version__
from ossdoc.config import Settings, coerce
from ossdoc.keys import KEYS_FILE

if TYPE_CHECKING:
    from ossdoc.client import Credentials

# CLI flag for each setting: --data-dir style names would drift from OSSDOC_* names, so the flag
# is the setting's name with dashes (OSSDOC_BASE_DOMAIN ↔ --base-domain).
_HELP = {
    "host": "address to listen on",
    "port": "port to listen on",
    "data": "data directory (objects, metadata, keys, model cache)",
    "region": "region reported to clients and used in V4 signing scopes",
    "base_domain": "virtual-hosted style: <bucket>.<base-domain> addresses a bucket",
    "public_endpoint": "endpoint reported in ListBuckets/GetBucketInfo (default host:port)",
    "llm": "document-processing backend: local | openai | fake",
    "model": "local model preset name or path to a GGUF file",
}


def _add_settings(parser: argparse.ArgumentParser) -> None:
    for f in fields(Settings):
        if f.name in ("access_key_id", "access_key_secret", "openai_api_key"):
            continue  # secrets only from the environment, never from argv (visible in ps)
        flag = "--" + f.name.replace("_", "-")
        kind = partial(coerce, f.type)
        parser.add_argument(
            flag, dest=f.name, type=kind, default=None, help=_HELP.get(f.name, f"OSSDOC_{f.name.upper()}")
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ossdoc", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ossdoc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the OSS-compatible service")
    _add_settings(serve)
    _add_process(commands)
    return parser


def _add_process(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    process = commands.add_parser(
        "process",
        help="run a document operation on a running ossdoc",
        description="Credentials come from OSSDOC_ACCESS_KEY_ID/OSSDOC_ACCESS_KEY_SECRET, "
        "else from <data>/keys.json.",
    )
    process.add_argument("op", help="translate | polish | summarize | continue | enrich | rephrase")
    process.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="e.g. language=en_US, tone=friendly"
    )
    source = process.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", type=Path, help="text file to process ('-' for stdin)")
    source.add_argument("--text", help="text to process")
    process.add_argument(
        "--object", metavar="BUCKET/KEY", help="placeholder object (default <bucket>/document)"
    )
    process.add_argument(
        "--bucket", default=os.environ.get("OSSDOC_BUCKET", ""), help="bucket ($OSSDOC_BUCKET)"
    )
    process.add_argument("--stream", action="store_true", help="server-sent events: print text as it comes")
    process.add_argument(
        "--endpoint", default=os.environ.get("OSSDOC_ENDPOINT", "http://127.0.0.1:8080"), help="ossdoc URL"
    )
    process.add_argument(
        "--data", type=Path, default=Path("./ossdoc-data"), help="data directory (keys.json)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from ossdoc.server import serve

        overrides = {f.name: getattr(args, f.name, None) for f in fields(Settings)}
        serve(Settings.from_env(**overrides))
        return 0
    if args.command == "process":
        return process(args)
    return 2


def process(args: argparse.Namespace) -> int:
    """``ossdoc process``: print the result; with --stream, print each event's new text as it comes."""
    from ossdoc import client

    try:
        credentials = _credentials(args.data)
        bucket, key = _placeholder(args.object, args.bucket)
        params = dict(_key_value(p) for p in args.param)
        text = args.text if args.text is not None else _read(args.file)
    except ValueError as exc:
        print(f"ossdoc process: {exc}", file=sys.stderr)
        return 2
    action = args.op if args.op.startswith("doc/") else f"doc/{args.op}"
    request = client.process_string(action, text, params, args.stream)
    printed = ""
    try:
        for event in client.process(args.endpoint, credentials, bucket, key, request):
            if event["event"] == "error":
                print(f"\nossdoc process: {event.get('Code')}: {event.get('Message')}", file=sys.stderr)
                return 1
            output = event["Output"]["Text"]
            # Events carry the whole text so far: print what is new.
            new = output[len(printed) :] if output.startswith(printed) else "\n" + output
            sys.stdout.write(new)
            sys.stdout.flush()
            printed = output
    except client.OSSClientError as exc:
        print(f"ossdoc process: {exc}", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"ossdoc process: cannot reach {args.endpoint}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write("\n")
    return 0


def _credentials(data: Path) -> Credentials:
    from ossdoc.client import Credentials

    key_id = os.environ.get("OSSDOC_ACCESS_KEY_ID", "")
    secret = os.environ.get("OSSDOC_ACCESS_KEY_SECRET", "")
    if key_id and secret:
        return Credentials(key_id, secret)
    keys = data / KEYS_FILE
    if keys.exists():
        first = json.loads(keys.read_text())[0]
        return Credentials(first["id"], first["secret"])
    raise ValueError(f"set OSSDOC_ACCESS_KEY_ID and OSSDOC_ACCESS_KEY_SECRET (no {keys} either)")


def _placeholder(obj: str | None, bucket: str) -> tuple[str, str]:
    if obj:
        bucket, _, key = obj.partition("/")
        if not bucket or not key:
            raise ValueError("--object must be BUCKET/KEY")
        return bucket, key
    if not bucket:
        raise ValueError("name a bucket: --bucket B (or $OSSDOC_BUCKET) or --object BUCKET/KEY")
    return bucket, "document"


def _key_value(param: str) -> tuple[str, str]:
    key, sep, value = param.partition("=")
    if not sep or not key:
        raise ValueError(f"--param {param!r} is not K=V")
    return key, value


def _read(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    return path.read_text(encoding="utf-8")
