"""A minimal OSS client for ``ossdoc process``: one signed POST ``?x-oss-process``, JSON or SSE.

Signs with OSS signature V1 (HMAC-SHA1, what ``oss2`` sends by default) over httpx, so the command
needs neither oss2 nor the V2 SDK. Requests are path style: ``<endpoint>/<bucket>/<key>``."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

import httpx

from ossdoc.wire import auth_v1

FORM_TYPE = "application/x-www-form-urlencoded"


class OSSClientError(Exception):
    def __init__(self, status: int, code: str, message: str, request_id: str = "") -> None:
        super().__init__(f"{code}: {message}" + (f" (request id {request_id})" if request_id else ""))
        self.status, self.code, self.message, self.request_id = status, code, message, request_id


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    access_key_secret: str


def string_to_sign_v1(method: str, resource: str, headers: Mapping[str, str]) -> str:
    lower = {k.lower(): v for k, v in headers.items()}
    oss_headers = "".join(f"{k}:{lower[k]}\n" for k in sorted(lower) if k.startswith("x-oss-"))
    date = lower.get("date", "")
    return f"{method}\n{lower.get('content-md5', '')}\n{lower.get('content-type', '')}\n{date}\n" + (
        oss_headers + resource
    )


def sign_v1(credentials: Credentials, method: str, resource: str, headers: Mapping[str, str]) -> str:
    """The Authorization header value; ``resource`` is ``/<bucket>/<key>?<sub-resources>``."""
    signature = auth_v1.sign(credentials.access_key_secret, string_to_sign_v1(method, resource, headers))
    return f"OSS {credentials.access_key_id}:{signature}"


def process_string(action: str, content: str, params: Mapping[str, str], stream: bool) -> str:
    encoded = base64.urlsafe_b64encode(content.encode()).decode().rstrip("=")
    parts = [action, *(f"{k}_{v}" for k, v in params.items()), f"content_{encoded}"]
    if stream:
        parts.append("format_event-stream")
    return ",".join(parts)


def process(
    endpoint: str, credentials: Credentials, bucket: str, key: str, process: str, *, timeout: float = 600.0
) -> Iterator[dict[str, Any]]:
    """POST ``?x-oss-process`` and yield the reply documents: one for JSON, one per SSE event
    (``{"event": name, **data}``). Raises OSSClientError for an OSS error reply."""
    body = f"x-oss-process={process}".encode()
    headers = {"Date": formatdate(usegmt=True), "Content-Type": FORM_TYPE}
    headers["Authorization"] = sign_v1(credentials, "POST", f"/{bucket}/{key}?x-oss-process", headers)
    url = f"{endpoint.rstrip('/')}/{bucket}/{quote(key, safe='/')}?x-oss-process"
    with httpx.stream("POST", url, content=body, headers=headers, timeout=timeout) as reply:
        if reply.status_code >= 300:
            raise _error(reply.status_code, reply.read().decode("utf-8", "replace"), reply.headers)
        if reply.headers.get("content-type", "").startswith("text/event-stream"):
            yield from _events(reply.iter_lines())
        else:
            yield {"event": "Result", **json.loads(reply.read())}


def _events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    event = "message"
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield {"event": event, **json.loads("\n".join(data))}
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    if data:
        yield {"event": event, **json.loads("\n".join(data))}


def _error(status: int, body: str, headers: Mapping[str, str]) -> OSSClientError:
    def field(name: str) -> str:
        match = re.search(rf"<{name}>(.*?)</{name}>", body, re.DOTALL)
        return match.group(1) if match else ""

    return OSSClientError(
        status,
        field("Code") or f"HTTP{status}",
        field("Message") or body[:200],
        headers.get("x-oss-request-id", ""),
    )
