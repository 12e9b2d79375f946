"""A minimal OSS client for ``ossdoc process`` and ``ossdoc task``: signed POSTs ``?x-oss-process``
(JSON or SSE) and ``?x-oss-async-process``, and the task status requests ``?x-oss-async-task``.

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


def process_string(
    action: str, content: str | None, params: Mapping[str, str], stream: bool, save_as: str = ""
) -> str:
    """The process string; without ``content`` the server processes the object in the path."""
    parts = [action, *(f"{k}_{v}" for k, v in params.items())]
    if content is not None:
        parts.append(f"content_{_b64(content)}")
    if stream:
        parts.append("format_event-stream")
    return ",".join(parts) + (f"|sys/saveas,o_{_b64(save_as)}" if save_as else "")


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def process(
    endpoint: str,
    credentials: Credentials,
    bucket: str,
    key: str,
    process: str,
    *,
    timeout: float = 600.0,
    field: str = "x-oss-process",
) -> Iterator[dict[str, Any]]:
    """POST ``?<field>`` and yield the reply documents: one for JSON, one per SSE event
    (``{"event": name, **data}``). Raises OSSClientError for an OSS error reply. ``field`` is
    ``x-oss-async-process`` to submit a task: the one document holds its ``TaskId``."""
    body = f"{field}={process}".encode()
    headers = _signed(credentials, "POST", f"/{bucket}/{key}?{field}", {"Content-Type": FORM_TYPE})
    url = f"{endpoint.rstrip('/')}/{bucket}/{quote(key, safe='/')}?{field}"
    with httpx.stream("POST", url, content=body, headers=headers, timeout=timeout) as reply:
        if reply.status_code >= 300:
            raise _error(reply.status_code, reply.read().decode("utf-8", "replace"), reply.headers)
        if reply.headers.get("content-type", "").startswith("text/event-stream"):
            yield from _events(reply.iter_lines())
        else:
            yield {"event": "Result", **json.loads(reply.read())}


def task(
    endpoint: str, credentials: Credentials, bucket: str, task_id: str = "", *, cancel: bool = False
) -> dict[str, Any]:
    """An asynchronous task's status (cancelled first with ``cancel``), or the bucket's tasks."""
    method = "DELETE" if cancel else "GET"
    headers = _signed(credentials, method, f"/{bucket}/", {})
    url = f"{endpoint.rstrip('/')}/{bucket}/"
    reply = httpx.request(method, url, params={"x-oss-async-task": task_id}, headers=headers, timeout=60)
    if reply.status_code >= 300:
        raise _error(reply.status_code, reply.text, reply.headers)
    status: dict[str, Any] = reply.json()
    return status


def _signed(credentials: Credentials, method: str, resource: str, headers: dict[str, str]) -> dict[str, str]:
    headers = {"Date": formatdate(usegmt=True), **headers}
    headers["Authorization"] = sign_v1(credentials, method, resource, headers)
    return headers


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
