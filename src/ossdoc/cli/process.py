"""``ossdoc process`` (a document operation, its text printed live as it is generated) and
``ossdoc task`` (asynchronous tasks: show, list, cancel)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ossdoc import client
from ossdoc.cli.common import REFUSED, UsageError, add_connection, connect, is_oss, oss_path, run


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    process = commands.add_parser(
        "process",
        help="run a document operation, printing the text as it comes",
        description="Credentials come from the flags, OSSDOC_ACCESS_KEY_ID/OSSDOC_ACCESS_KEY_SECRET, the "
        "config file, or <data>/keys.json.",
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
        metavar="oss://BUCKET/KEY",
        help="the stored document to process when neither --file nor --text is given; else a "
        "placeholder (default <bucket>/document); BUCKET/KEY works too",
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
    add_connection(process, json_output=False)
    process.set_defaults(handler=lambda a: run("process", lambda: _process(a), lambda: a.endpoint or ""))
    task = commands.add_parser("task", help="show the asynchronous tasks of a bucket, or one of them")
    task.add_argument("bucket", metavar="oss://BUCKET")
    task.add_argument("task_id", nargs="?", default="", help="a TaskId (all the bucket's tasks without it)")
    task.add_argument("--cancel", action="store_true", help="cancel the task if it is queued or running")
    add_connection(task, json_output=False)
    task.set_defaults(handler=lambda a: run("task", lambda: _task(a), lambda: a.endpoint or ""))


def _task(args: argparse.Namespace) -> int:
    """Print a task's status (or the bucket's tasks) as JSON."""
    bucket = oss_path(args.bucket).bucket if is_oss(args.bucket) else args.bucket
    oss = connect(args)
    oss.close()
    status = client.task(oss.endpoint, oss.credentials, bucket, args.task_id, cancel=args.cancel)
    print(json.dumps(status, ensure_ascii=False, indent=2))
    return 0


def _process(args: argparse.Namespace) -> int:
    """Print the result; with --stream, print each event's new text as it comes."""
    bucket, key = _placeholder(args.object, args.bucket)
    params = dict(_key_value(p) for p in args.param)
    text = args.text if args.text is not None else _read(args.file) if args.file else None
    if text is None and not args.object:
        raise UsageError("give the text (--text, --file) or the stored document (--object oss://BUCKET/KEY)")
    if args.run_async and not args.save_as:
        raise UsageError("--async stores its result: add --save-as KEY")
    oss = connect(args)
    oss.close()
    action = args.op if args.op.startswith("doc/") else f"doc/{args.op}"
    request = client.process_string(action, text, params, args.stream, args.save_as)
    field = "x-oss-async-process" if args.run_async else "x-oss-process"
    printed = ""
    for event in client.process(oss.endpoint, oss.credentials, bucket, key, request, field=field):
        if args.run_async or args.save_as:
            # A task id, or where the result went: the reply as it is.
            reply = {k: v for k, v in event.items() if k not in ("event", "Output")}
            print(json.dumps(reply, ensure_ascii=False))
            return 0
        if event["event"] == "error":
            print(f"\nossdoc process: {event.get('Code')}: {event.get('Message')}", file=sys.stderr)
            return REFUSED
        output = event["Output"]["Text"]
        # Events carry the whole text so far: print what is new.
        new = output[len(printed) :] if output.startswith(printed) else "\n" + output
        sys.stdout.write(new)
        sys.stdout.flush()
        printed = output
    sys.stdout.write("\n")
    return 0


def _placeholder(obj: str | None, bucket: str) -> tuple[str, str]:
    if obj:
        if is_oss(obj):
            path = oss_path(obj)
            bucket, key = path.bucket, path.key
        else:
            bucket, _, key = obj.partition("/")
        if not bucket or not key:
            raise UsageError("--object must be oss://BUCKET/KEY")
        return bucket, key
    if not bucket:
        raise UsageError("name a bucket: --bucket B (or $OSSDOC_BUCKET) or --object oss://BUCKET/KEY")
    return bucket, "document"


def _key_value(param: str) -> tuple[str, str]:
    key, sep, value = param.partition("=")
    if not sep or not key:
        raise UsageError(f"--param {param!r} is not K=V")
    return key, value


def _read(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    return path.read_text(encoding="utf-8")
