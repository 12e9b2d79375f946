"""What every client command shares: connection options, where credentials come from, ``oss://``
paths, output for people or ``--json``, and errors that say what happened and what to do.

Exit codes (README): 0 done; 1 the server refused (an OSS error); 2 a usage error (bad arguments,
no credentials); 3 the server cannot be reached; 4 a local file cannot be read or written; 5 the
user answered no at a confirmation; 130 interrupted (Ctrl-C)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ossdoc.cli import profile
from ossdoc.cli.api import Client, Credentials, OSSClientError

OK, REFUSED, USAGE, UNREACHABLE, LOCAL, DECLINED, INTERRUPTED = 0, 1, 2, 3, 4, 5, 130
DEFAULT_ENDPOINT = "http://127.0.0.1:8080"

HINTS = {
    "InvalidAccessKeyId": "the key id is unknown or was revoked: check your config file, the "
    "OSSDOC_ACCESS_KEY_ID variable or `ossdoc keys list` on the server",
    "SignatureDoesNotMatch": "the secret does not belong to this key id: check OSSDOC_ACCESS_KEY_SECRET "
    "or your config file",
    "RequestTimeTooSkewed": "this machine's clock is off by more than 15 minutes: fix the clock",
    "NoSuchBucket": "create it with `ossdoc mb oss://BUCKET`, or list buckets with `ossdoc ls`",
    "NoSuchKey": "list what is there with `ossdoc ls oss://BUCKET/PREFIX`",
    "BucketNotEmpty": "delete its objects first: `ossdoc rm -r -f oss://BUCKET/`",
    "BucketAlreadyExists": "bucket names are global: choose another name",
    "InvalidBucketName": "3-63 characters: lower-case letters, digits and hyphens, not at either end",
    "AccessDenied": "the request is not allowed with this key: check the key, the bucket ACL or the "
    "URL's expiry",
    "SlowDown": "the model's queue is full: retry in a few seconds",
    "ServiceUnavailable": "the server cannot do this now (no model loaded?): retry later or see its log",
    "NoSuchUpload": "the multipart upload is gone: run the same `cp` again to start afresh",
    "PreconditionFailed": "the object changed during the copy: run the same `cp` again",
    "EntityTooLarge": "the body is over the limit for this request",
    "InvalidArgument": "check the arguments named in the message",
    "MethodNotAllowed": "this operation does not apply to this resource",
}


class UsageError(Exception):
    """Wrong arguments or missing configuration: exit code 2."""


class Declined(Exception):
    """The user answered no at a confirmation: exit code 5."""


class CopyError(Exception):
    """A copy arrived different from the server's (CRC-64): exit code 4."""


@dataclass(frozen=True)
class OSSPath:
    bucket: str
    key: str  # "" for the bucket itself

    def __str__(self) -> str:
        return f"oss://{self.bucket}/{self.key}"


def is_oss(path: str) -> bool:
    return path.startswith("oss://")


def oss_path(path: str) -> OSSPath:
    if not is_oss(path):
        raise UsageError(f"{path!r} is not an oss:// path (write oss://BUCKET/KEY)")
    bucket, _, key = path[len("oss://") :].partition("/")
    if not bucket:
        raise UsageError(f"{path!r} names no bucket (write oss://BUCKET/KEY)")
    return OSSPath(bucket, key)


def add_connection(parser: argparse.ArgumentParser, json_output: bool = True) -> None:
    group = parser.add_argument_group("connection (flags, else OSSDOC_* variables, else the config file)")
    group.add_argument("-e", "--endpoint", help=f"ossdoc URL ($OSSDOC_ENDPOINT; default {DEFAULT_ENDPOINT})")
    group.add_argument("-i", "--access-key-id", help="$OSSDOC_ACCESS_KEY_ID")
    group.add_argument(
        "-k",
        "--access-key-secret",
        help="$OSSDOC_ACCESS_KEY_SECRET (a flag is visible in `ps`: prefer those)",
    )
    group.add_argument(
        "-c", "--config", type=Path, help=f"client config file (default {profile.default_path()})"
    )
    group.add_argument(
        "--data",
        type=Path,
        help="a server's data directory ($OSSDOC_DATA, ./ossdoc-data): its first key, when nothing "
        "else gives one",
    )
    if json_output:
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def connect(args: argparse.Namespace) -> Client:
    """A client from flags, else the environment, else the config file (else a data dir's keys)."""
    path = args.config or profile.default_path()
    saved = profile.read(path)
    endpoint = args.endpoint or os.environ.get("OSSDOC_ENDPOINT", "") or saved.endpoint or DEFAULT_ENDPOINT
    key_id = args.access_key_id or os.environ.get("OSSDOC_ACCESS_KEY_ID", "") or saved.access_key_id
    secret = (
        args.access_key_secret or os.environ.get("OSSDOC_ACCESS_KEY_SECRET", "") or saved.access_key_secret
    )
    if not (key_id or secret):
        from ossdoc.keys import stored_keys

        data = args.data or Path(os.environ.get("OSSDOC_DATA", "") or "ossdoc-data")
        stored = stored_keys(data) if (data / "keys.json").exists() else []
        if stored:
            key_id, secret = stored[0].id, stored[0].secret
    if not key_id or not secret:
        raise UsageError(
            "no access key: run `ossdoc keys create` on the server's machine (it writes "
            f"{path}), or set OSSDOC_ACCESS_KEY_ID and OSSDOC_ACCESS_KEY_SECRET"
        )
    if "://" not in endpoint:
        endpoint = "http://" + endpoint
    return Client(endpoint, Credentials(key_id, secret))


def emit(args: argparse.Namespace, value: Any, human: Callable[[], None]) -> None:
    """``value`` as JSON with --json, else whatever ``human`` prints."""
    if getattr(args, "json", False):
        print(json.dumps(value, ensure_ascii=False, indent=2))
    else:
        human()


def confirm(question: str) -> None:
    if not sys.stdin.isatty():
        raise UsageError(f"{question}: no terminal to ask on; add -f to go ahead")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise Declined("nothing done")


def run(command: str, action: Callable[[], int], endpoint: Callable[[], str] = lambda: "") -> int:
    """Run a command, turning each kind of failure into a message with a hint and its exit code."""
    prog = f"ossdoc {command}"
    try:
        return action()
    except UsageError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return USAGE
    except Declined as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return DECLINED
    except OSSClientError as exc:
        print(f"{prog}: {exc.code} (HTTP {exc.status}): {exc.message}", file=sys.stderr)
        if exc.request_id:
            print(f"  request id: {exc.request_id}", file=sys.stderr)
        hint = HINTS.get(exc.code)
        if hint:
            print(f"  hint: {hint}", file=sys.stderr)
        return REFUSED
    except httpx.HTTPError as exc:
        where = endpoint() or "the server"
        print(f"{prog}: cannot reach {where}: {exc}", file=sys.stderr)
        print("  hint: is `ossdoc serve` running there? check --endpoint / OSSDOC_ENDPOINT", file=sys.stderr)
        return UNREACHABLE
    except OSError as exc:
        print(f"{prog}: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return LOCAL
    except CopyError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return LOCAL
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        if command == "cp":
            print(
                "  hint: run the same command again: large files resume from their checkpoint",
                file=sys.stderr,
            )
        return INTERRUPTED


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
