"""``ossdoc keys create|list|revoke``: the access keys of a data dir, changed in place; a running
server (every worker process) sees the change on its next request."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ossdoc import keys as store
from ossdoc.cli import profile
from ossdoc.cli.common import UsageError, emit, run
from ossdoc.config import Settings


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "keys",
        help="create, list or revoke access keys (on the server's machine)",
        description="Works on the server's data directory (--data, $OSSDOC_DATA, ./ossdoc-data).",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="make a key pair, print it and write the client config file")
    create.add_argument("--description", default="", help="what the key is for")
    create.add_argument("-e", "--endpoint", help="endpoint for the config file (default: the server's)")
    create.add_argument("-c", "--config", type=Path, help=f"config file to write ({profile.default_path()})")
    create.add_argument("--no-config", action="store_true", help="print the pair only")
    listing = actions.add_parser("list", help="list the keys (ids, never secrets)")
    revoke = actions.add_parser("revoke", help="remove a key: requests signed with it fail at once")
    revoke.add_argument("key_id")
    for sub in (create, listing, revoke):
        sub.add_argument("--data", type=Path, help="the server's data directory ($OSSDOC_DATA)")
        sub.add_argument("--json", action="store_true", help="print JSON for scripts")
    create.set_defaults(handler=lambda a: run("keys create", lambda: _create(a)))
    listing.set_defaults(handler=lambda a: run("keys list", lambda: _list(a)))
    revoke.set_defaults(handler=lambda a: run("keys revoke", lambda: _revoke(a)))


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(data=args.data)


def _create(args: argparse.Namespace) -> int:
    settings = _settings(args)
    key = store.create(settings.data, args.description)
    written = ""
    if not args.no_config:
        endpoint = args.endpoint or os.environ.get("OSSDOC_ENDPOINT", "") or f"http://{settings.endpoint}"
        path = args.config or profile.default_path()
        profile.write(path, profile.Profile(endpoint, key.id, key.secret))
        written = str(path)
    value = {"AccessKeyId": key.id, "AccessKeySecret": key.secret, "Config": written}

    def human() -> None:
        print(f"AccessKeyId:     {key.id}\nAccessKeySecret: {key.secret}")
        if written:
            print(f"written to {written} (mode 0600): ossdoc commands use it from now on")

    emit(args, value, human)
    return 0


def _list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    rows = [
        {
            "AccessKeyId": k.id,
            "Created": _when(k.created),
            "Description": k.description,
            "Source": "keys.json",
        }
        for k in store.stored_keys(settings.data)
    ]
    if settings.access_key_id:
        env = {
            "AccessKeyId": settings.access_key_id,
            "Created": "",
            "Description": "",
            "Source": "environment",
        }
        rows.insert(0, env)

    def human() -> None:
        if not rows:
            print(f"no keys in {settings.data / store.KEYS_FILE}")
        for row in rows:
            print(
                f"{row['AccessKeyId']:<26} {row['Created'] or '-':<20} {row['Source']:<12} "
                + row["Description"]
            )

    emit(args, rows, human)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        key = store.revoke(settings.data, args.key_id, settings.access_key_id)
    except store.KeyError_ as exc:
        raise UsageError(str(exc)) from exc
    emit(args, {"Revoked": key.id}, lambda: print(f"revoked {key.id}: requests signed with it now fail"))
    return 0


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) if ts else ""
