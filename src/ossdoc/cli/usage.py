"""``ossdoc usage``: requests, model tokens and bytes per access key, from the server's ``/-/usage``."""

from __future__ import annotations

import argparse
from typing import Any

from ossdoc.cli.common import add_connection, connect, emit, human_size, run


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    usage = commands.add_parser("usage", help="usage totals per access key (requests, tokens, bytes)")
    add_connection(usage)
    usage.set_defaults(handler=lambda a: run("usage", lambda: _usage(a), lambda: a.endpoint or ""))


def _usage(args: argparse.Namespace) -> int:
    client = connect(args)
    try:
        # Signed like an object request for the resource /-/usage.
        rows: list[dict[str, Any]] = client.request("GET", "-", "usage").json()["Usage"]
    finally:
        client.close()

    def human() -> None:
        print(
            f"{'AccessKeyId':<26} {'Requests':>9} {'InTokens':>9} {'OutTokens':>9} "
            f"{'BytesIn':>10} {'BytesOut':>10}"
        )
        for r in rows:
            mark = " (you)" if r.get("Caller") else ""
            print(
                f"{r['AccessKeyId']:<26} {r['Requests']:>9} {r['InputTokens']:>9} {r['OutputTokens']:>9} "
                f"{human_size(r['BytesIn']):>10} {human_size(r['BytesOut']):>10}{mark}"
            )

    emit(args, rows, human)
    return 0
