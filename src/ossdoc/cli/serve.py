"""``ossdoc serve``: one flag per setting (``OSSDOC_BASE_DOMAIN`` ↔ ``--base-domain``)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from functools import partial

from ossdoc.config import Settings, coerce

# --data-dir style names would drift from OSSDOC_* names, so the flag is the setting's name with dashes.
_HELP = {
    "host": "address to listen on",
    "port": "port to listen on",
    "data": "data directory (objects, metadata, keys, model cache)",
    "region": "region reported to clients and used in V4 signing scopes",
    "base_domain": "virtual-hosted style: <bucket>.<base-domain> addresses a bucket",
    "public_endpoint": "endpoint reported in ListBuckets/GetBucketInfo (default host:port)",
    "llm": "document-processing backend: local | openai | fake",
    "model": "local model preset name or path to a GGUF file",
    "log_format": "plain | json (one JSON line per request and per message)",
    "workers": "HTTP worker processes (default: the cores available)",
    "redis_url": "share state between replicas in this Redis (redis://host:port/db, unix:///path); "
    "one with a password: OSSDOC_REDIS_URL (argv is visible in ps)",
    "quota_rpm": "document requests a minute per access key (0: unlimited)",
    "quota_tpm": "model tokens a minute per access key (0: unlimited)",
}


def add_settings(parser: argparse.ArgumentParser) -> None:
    for f in fields(Settings):
        if f.name in ("access_key_id", "access_key_secret", "openai_api_key"):
            continue  # secrets only from the environment, never from argv (visible in ps)
        flag = "--" + f.name.replace("_", "-")
        kind = partial(coerce, f.type)
        parser.add_argument(
            flag, dest=f.name, type=kind, default=None, help=_HELP.get(f.name, f"OSSDOC_{f.name.upper()}")
        )


def add(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="run the OSS-compatible service")
    add_settings(serve)
    serve.set_defaults(handler=run)
    model = commands.add_parser(
        "model-service",
        help="serve the embedded model alone on --host/--port (OpenAI-compatible), for the workers of "
        "other machines (their OSSDOC_OPENAI_BASE_URL); clients send OSSDOC_OPENAI_API_KEY if it is set",
    )
    add_settings(model)
    model.set_defaults(handler=run_model)


def _settings(args: argparse.Namespace, command: str) -> Settings | None:
    overrides = {f.name: getattr(args, f.name, None) for f in fields(Settings)}
    settings = Settings.from_env(**overrides)
    problem = _problem(settings)
    if problem:
        print(f"ossdoc {command}: {problem}", file=sys.stderr)
        return None
    return settings


def run(args: argparse.Namespace) -> int:
    from ossdoc.server import serve

    settings = _settings(args, "serve")
    return 2 if settings is None else serve(settings)


def run_model(args: argparse.Namespace) -> int:
    from ossdoc.observability import logs
    from ossdoc.runtime.serve import serve_model

    settings = _settings(args, "model-service")
    if settings is None:
        return 2
    logs.configure(settings.log_level, settings.log_format)
    return serve_model(settings)


def _problem(settings: Settings) -> str:
    if settings.log_format not in ("plain", "json"):
        return f"OSSDOC_LOG_FORMAT must be plain or json, not {settings.log_format!r}"
    if bool(settings.access_key_id) != bool(settings.access_key_secret):
        return "OSSDOC_ACCESS_KEY_ID and OSSDOC_ACCESS_KEY_SECRET must be set together"
    return ""
