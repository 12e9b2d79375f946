"""Helpers shared by the route modules: XML replies, ISO dates, owner, integer parameters."""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from ossdoc import errors
from ossdoc.wire import xml
from ossdoc.wire.context import Context

XML_TYPE = "application/xml"


def iso8601(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))  # oss2 accepts only .000Z


def owner(ctx: Context) -> dict[str, str]:
    who = ctx.principal or "anonymous"
    return {"ID": who, "DisplayName": who}


def xml_reply(tag: str, children: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return Response(xml.document(tag, children), media_type=XML_TYPE, headers=dict(headers or {}))


def empty(status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(b"", status_code=status, headers=dict(headers or {}))


def int_param(ctx: Context, name: str, default: int, low: int, high: int) -> int:
    raw = ctx.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise errors.InvalidArgument(
            f"{name} must be an integer.", ArgumentName=name, ArgumentValue=raw
        ) from exc
    if not low <= value <= high:
        raise errors.InvalidArgument(
            f"{name} must be between {low} and {high}.", ArgumentName=name, ArgumentValue=raw
        )
    return value


def encoding_type(ctx: Context) -> str | None:
    value = ctx.query.get("encoding-type")
    if value in (None, ""):
        return None
    if value != "url":
        raise errors.InvalidArgument(
            "The encoding-type must be url.", ArgumentName="encoding-type", ArgumentValue=value
        )
    return value


def content_md5(ctx: Context) -> bytes | None:
    raw = ctx.headers.get("content-md5")
    if raw is None:
        return None
    try:
        digest = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise errors.InvalidDigest() from exc
    if len(digest) != 16:
        raise errors.InvalidDigest()
    return digest


def check_md5(expected: bytes | None, body: bytes) -> None:
    if expected is not None and hashlib.md5(body, usedforsecurity=False).digest() != expected:
        raise errors.InvalidDigest("The Content-MD5 you specified did not match what we received.")


def acl_grant(acl: str) -> dict[str, Any]:
    return {"AccessControlList": {"Grant": acl}}
