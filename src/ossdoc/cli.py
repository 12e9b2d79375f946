"""The ``ossdoc`` command: ``serve`` runs the service; ``process`` runs a document operation;
``task`` shows or cancels asynchronous tasks."""

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
    "workers": "HTTP worker processes (default: the cores available)",
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
    source = process.add_mutually_exclusive_group()
    source.add_argument("--file", type=Path, help="text file to process ('-' for stdin)")
    source.add_argument("--text", help="text to process")
    process.add_argument(
        "--object",
        metavar="BUCKET/KEY",
        help="the stored document to process when neither --file nor --text is given; else a "
        "placeholder (default <bucket>/document)",
    )
    process.add_argument(
        "--bucket", default=os.environ.get("OSSDOC_BUCKET", ""), help="bucket ($OSSDOC_BUCKET)"
    )
    process.add_argument("--stream", action="store_true", help="server-sent events: print text as it comes")
    process.add_argument("--save-as", metavar="KEY", default="", help="store the result as this object")
    process.add_argument(
        "--async",
        dest="run_async",
        action="store_true",
        help="submit an asynchronous task (needs --save-as) and print its id",
    )
    _add_connection(process)
    task = commands.add_parser("task", help="show the asynchronous tasks of a bucket, or one of them")
    task.add_argument("bucket")
    task.add_argument("task_id", nargs="?", default="", help="a TaskId (all the bucket's tasks without it)")
    task.add_argument("--cancel", action="store_true", help="cancel the task if it is queued or running")
    _add_connection(task)


def _add_connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint", default=os.environ.get("OSSDOC_ENDPOINT", "http://127.0.0.1:8080"), help="ossdoc URL"
    )
    parser.add_argument("--data", type=Path, default=Path("./ossdoc-data"), help="data directory (keys.json)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from ossdoc.server import serve

        overrides = {f.name: getattr(args, f.name, None) for f in fields(Settings)}
        return serve(Settings.from_env(**overrides))
    if args.command == "process":
        return process(args)
    if args.command == "task":
        return task(args)
    return 2


def task(args: argparse.Namespace) -> int:
    """``ossdoc task``: print a task's status (or the bucket's tasks) as JSON."""
    from ossdoc import client

    try:
        credentials = _credentials(args.data)
        status = client.task(args.endpoint, credentials, args.bucket, args.task_id, cancel=args.cancel)
    except ValueError as exc:
        print(f"ossdoc task: {exc}", file=sys.stderr)
        return 2
    except client.OSSClientError as exc:
        print(f"ossdoc task: {exc}", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"ossdoc task: cannot reach {args.endpoint}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(status, ensure_ascii=False, indent=2))
    return 0


def process(args: argparse.Namespace) -> int:
    """``ossdoc process``: print the result; with --stream, print each event's new text as it comes."""
    from ossdoc import client

    try:
        credentials = _credentials(args.data)
        bucket, key = _placeholder(args.object, args.bucket)
        params = dict(_key_value(p) for p in args.param)
        text = args.text if args.text is not None else _read(args.file) if args.file else None
        if text is None and not args.object:
            raise ValueError("give the text (--text, --file) or the stored document (--object BUCKET/KEY)")
        if args.run_async and not args.save_as:
            raise ValueError("--async stores its result: add --save-as KEY")
    except ValueError as exc:
        print(f"ossdoc process: {exc}", file=sys.stderr)
        return 2
    action = args.op if args.op.startswith("doc/") else f"doc/{args.op}"
    request = client.process_string(action, text, params, args.stream, args.save_as)
    field = "x-oss-async-process" if args.run_async else "x-oss-process"
    printed = ""
    try:
        for event in client.process(args.endpoint, credentials, bucket, key, request, field=field):
            if args.run_async or args.save_as:
                # A task id, or where the result went: the reply as it is.
                reply = {k: v for k, v in event.items() if k not in ("event", "Output")}
                print(json.dumps(reply, ensure_ascii=False))
                return 0
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
