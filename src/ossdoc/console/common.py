"""The console API's JSON: replies, errors (an OSS error's code, message and status) and request
bodies."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ossdoc import errors
from ossdoc.wire.context import new_request_id

log = logging.getLogger("ossdoc.console")
JSON_TYPE = "application/json;charset=UTF-8"
MAX_JSON_BODY = 256 * 1024  # a document request's pasted text and history fit several times over
NO_STORE = {"Cache-Control": "no-store"}


def reply(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type=JSON_TYPE, headers={**NO_STORE, **(headers or {})})


def error_reply(err: errors.OSSError, request_id: str | None = None) -> Response:
    body: dict[str, Any] = {
        "Code": err.code,
        "Message": err.message,
        "RequestId": request_id or new_request_id(),
    }
    if err.details:
        body["Details"] = err.details
    return reply(body, err.status, err.headers)


async def on_oss_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.OSSError)
    return error_reply(exc)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("console: internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_reply(errors.InternalError())


async def read_json(request: Request, limit: int = MAX_JSON_BODY) -> dict[str, Any]:
    """The request's body, a JSON object of at most ``limit`` bytes."""
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise errors.EntityTooLarge(f"The request body must be at most {limit} bytes.")
        chunks.append(chunk)
    try:
        value = json.loads(b"".join(chunks) or b"null")
    except ValueError as exc:
        raise errors.InvalidArgument("The request body is not valid JSON.") from exc
    if not isinstance(value, dict):
        raise errors.InvalidArgument("The request body must be a JSON object.")
    return value


def text_field(body: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise errors.InvalidArgument(f"{name} is required.", ArgumentName=name)
        return ""
    if not isinstance(value, str):
        raise errors.InvalidArgument(f"{name} must be a string.", ArgumentName=name)
    return value


def query_text(request: Request, name: str, *, required: bool = True) -> str:
    value = request.query_params.get(name, "")
    if required and not value:
        raise errors.InvalidArgument(f"The query parameter {name} is required.", ArgumentName=name)
    return value


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise errors.InvalidArgument(f"{name} must be an integer.", ArgumentName=name) from exc
    if not low <= value <= high:
        raise errors.InvalidArgument(f"{name} must be between {low} and {high}.", ArgumentName=name)
    return value
