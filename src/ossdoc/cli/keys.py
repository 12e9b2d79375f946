"""``ossdoc keys create|list|revoke|quota``: the access keys of a data dir, changed in place; a running
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
    _quota_flags(create)
    quota = actions.add_parser(
        "quota", help="set a key's document processing quotas (a running server applies them at once)"
    )
    quota.add_argument("key_id")
    _quota_flags(quota)
    listing = actions.add_parser("list", help="list the keys (ids, never secrets)")
    revoke = actions.add_parser("revoke", help="remove a key: requests signed with it fail at once")
    revoke.add_argument("key_id")
    for sub in (create, listing, revoke, quota):
        sub.add_argument("--data", type=Path, help="the server's data directory ($OSSDOC_DATA)")
        sub.add_argument("--json", action="store_true", help="print JSON for scripts")
    create.set_defaults(handler=lambda a: run("keys create", lambda: _create(a)))
    listing.set_defaults(handler=lambda a: run("keys list", lambda: _list(a)))
    revoke.set_defaults(handler=lambda a: run("keys revoke", lambda: _revoke(a)))
    quota.set_defaults(handler=lambda a: run("keys quota", lambda: _quota(a)))


def _quota_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rpm", type=int, help="document requests a minute (0: unlimited, -1: the server's OSSDOC_QUOTA_RPM)"
    )
    parser.add_argument(
        "--tpm", type=int, help="model tokens a minute (0: unlimited, -1: the server's OSSDOC_QUOTA_TPM)"
    )


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(data=args.data)


def _create(args: argparse.Namespace) -> int:
    settings = _settings(args)
    rpm, tpm = (None if v is None or v < 0 else v for v in (args.rpm, args.tpm))
    key = store.create(settings.data, args.description, rpm, tpm)
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
            "Quota": _quota_text(k),
        }
        for k in store.stored_keys(settings.data)
    ]
    if settings.access_key_id:
        env = {
            "AccessKeyId": settings.access_key_id,
            "Created": "",
            "Description": "",
            "Source": "environment",
            "Quota": "default",
        }
        rows.insert(0, env)

    def human() -> None:
        if not rows:
            print(f"no keys in {settings.data / store.KEYS_FILE}")
        for row in rows:
            print(
                f"{row['AccessKeyId']:<26} {row['Created'] or '-':<20} {row['Source']:<12} "
                f"{row['Quota']:<22} " + row["Description"]
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


def _quota(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.rpm is None and args.tpm is None:
        raise UsageError("give --rpm N and/or --tpm N")
    try:
        key = store.set_quota(settings.data, args.key_id, args.rpm, args.tpm)
    except store.KeyError_ as exc:
        raise UsageError(str(exc)) from exc
    value = {"AccessKeyId": key.id, "RequestsPerMinute": key.rpm, "TokensPerMinute": key.tpm}
    emit(args, value, lambda: print(f"{key.id}: {_quota_text(key)} (from its next request)"))
    return 0


def _quota_text(key: store.AccessKey) -> str:
    """``rpm=10 tpm=default``: a limit of 0 is unlimited, ``default`` is the server's setting."""

    def one(value: int | None) -> str:
        return "default" if value is None else "unlimited" if value == 0 else str(value)

    return f"rpm={one(key.rpm)} tpm={one(key.tpm)}"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) if ts else ""
