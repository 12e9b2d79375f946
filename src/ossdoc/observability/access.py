"""One observation per OSS request: bytes in and out, status, duration to the last byte, the operation
(named from its route), the access key; then metrics, the usage totals and one log line.

The app hands each request's ``receive`` and ``send`` through an ``Exchange``, which counts as the
bytes pass, so streamed bodies (large GETs, server-sent events) are measured whole. A request's
context and route are left in its ASGI scope by the app (``CONTEXT``, ``ROUTE``)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Any

from starlette.types import Message, Receive, Scope, Send

from ossdoc.observability import metrics, usage
from ossdoc.observability.logs import REQUESTS, log_request
from ossdoc.wire.context import parse_query

if TYPE_CHECKING:
    from ossdoc.wire.routing import Route, Router
    from ossdoc.wire.routing import Scope as Target

CONTEXT, ROUTE = "ossdoc.context", "ossdoc.route"
CLIENT_GONE = 499  # the status recorded when the client left before a reply started
log = logging.getLogger(REQUESTS)
# Handler names that are not the OSS API's name in CamelCase.
_NAMES = {
    "initiate": "InitiateMultipartUpload",
    "complete": "CompleteMultipartUpload",
    "abort": "AbortMultipartUpload",
    "list_uploads": "ListMultipartUploads",
    "process_with_other_method": "ProcessObject",
    "get_tasks": "GetAsyncTask",
    "cancel_task": "CancelAsyncTask",
}


def operation_name(route: Route) -> str:
    name = route.handler.__name__
    return _NAMES.get(name) or re.sub(r"(?:^|_)([a-z])", lambda m: m.group(1).upper(), name)


class Observer:
    def __init__(self, router: Router, data: Path | None) -> None:
        self.router = router
        self.usage = usage.UsageStore(data) if data is not None else None
        self.metrics = metrics.get()
        self._names: dict[Any, str] = {}
        self._children: dict[tuple[str, int], tuple[Any, Any, Any, Any]] = {}

    def exchange(self, receive: Receive, send: Send) -> Exchange:
        return Exchange(self, receive, send)

    def close(self) -> None:
        if self.usage is not None:
            self.usage.close()

    def name(self, scope: Scope) -> str:
        route: Route | None = scope.get(ROUTE)
        if route is None:
            route = self._guess(scope)
            if route is None:
                return "Unknown"
        name = self._names.get(route.handler)
        if name is None:
            name = self._names[route.handler] = operation_name(route)
        return name

    def _guess(self, scope: Scope) -> Route | None:
        """The route of a request refused before routing (a bad signature, say)."""
        ctx = scope.get(CONTEXT)
        if ctx is None:
            return None
        target: Target = "service" if ctx.bucket is None else "bucket" if ctx.key is None else "object"
        query = ctx.query_names if ctx.query_pairs is not None else _names(scope)
        try:
            return self.router.resolve(scope["method"], target, query)
        except Exception:
            return None

    def children(self, operation: str, status: int) -> tuple[Any, Any, Any, Any]:
        found = self._children.get((operation, status))
        if found is None:
            m = self.metrics
            found = self._children[(operation, status)] = (
                m.requests.labels(operation, str(status)),
                m.latency.labels(operation),
                m.bytes_in.labels(operation),
                m.bytes_out.labels(operation),
            )
        return found


def _names(scope: Scope) -> frozenset[str]:
    """The query's parameter names, of a request refused before the dispatcher parsed them."""
    return frozenset(name for name, _ in parse_query(scope["query_string"].decode("latin-1")))


class Exchange:
    __slots__ = (
        "_receive",
        "_send",
        "_token",
        "bytes_in",
        "bytes_out",
        "length",
        "observer",
        "started",
        "status",
        "stream",
        "tally",
    )

    def __init__(self, observer: Observer, receive: Receive, send: Send) -> None:
        self.observer = observer
        self._receive, self._send = receive, send
        self.started = perf_counter()
        self.status = 0
        self.bytes_in = self.bytes_out = self.length = 0
        self.stream = False
        self.tally = usage.Tally()
        self._token = usage.current.set(self.tally)

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.bytes_in += len(message.get("body", b""))
        return message

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            self.bytes_out += len(message.get("body", b""))
        elif kind == "http.response.start":
            self.status = message["status"]
            for name, value in message.get("headers", ()):
                name = name.lower()
                if name == b"content-type" and value.startswith(b"text/event-stream"):
                    self.stream = True
                    self.observer.metrics.active_streams.inc()
                elif name == b"content-length" and value.isdigit():
                    self.length = int(value)
        elif kind == "http.response.pathsend":  # the server sends the file: its length is the body's
            self.bytes_out += self.length
        elif kind == "http.response.zerocopysend":
            self.bytes_out += message["count"]
        await self._send(message)

    def finish(self, scope: Scope) -> None:
        elapsed = perf_counter() - self.started
        usage.current.reset(self._token)
        observer = self.observer
        if self.stream:
            observer.metrics.active_streams.dec()
        status = self.status or CLIENT_GONE
        operation = observer.name(scope)
        requests, latency, bytes_in, bytes_out = observer.children(operation, status)
        requests.inc()
        latency.observe(elapsed)
        if self.bytes_in:
            bytes_in.inc(self.bytes_in)
        if self.bytes_out:
            bytes_out.inc(self.bytes_out)
        ctx = scope.get(CONTEXT)
        key_id = ctx.principal if ctx is not None else None
        tally = self.tally
        if key_id is not None and observer.usage is not None:
            observer.usage.add(
                key_id, (1, tally.input_tokens, tally.output_tokens, self.bytes_in, self.bytes_out)
            )
        if log.isEnabledFor(logging.INFO):
            fields = {
                "request_id": ctx.request_id if ctx is not None else "",
                "key_id": key_id or "",
                "operation": operation,
                "method": scope["method"],
                "bucket": ctx.bucket if ctx is not None else None,
                "key": ctx.key if ctx is not None else None,
                "status": status,
                "bytes_in": self.bytes_in,
                "bytes_out": self.bytes_out,
                "duration_ms": round(elapsed * 1000, 3),
            }
            if tally.input_tokens or tally.output_tokens:
                fields.update(input_tokens=tally.input_tokens, output_tokens=tally.output_tokens)
            message = (
                f"{scope['method']} {scope.get('path', '')} {operation} {status} in={self.bytes_in} "
                f"out={self.bytes_out} {elapsed * 1000:.1f}ms key={key_id or '-'} id={fields['request_id']}"
            )
            log_request(log, message, fields)
