"""The ASGI application: address → authenticate → authorize → dispatch → render OSS errors."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ossdoc import errors
from ossdoc.observability import access
from ossdoc.observability.access import Observer
from ossdoc.wire import addressing, xml
from ossdoc.wire.auth import SignedRequest, authenticate
from ossdoc.wire.conditions import http_date
from ossdoc.wire.context import Context, parse_query
from ossdoc.wire.routing import Router
from ossdoc.wire.routing import Scope as Target
from ossdoc.wire.state import AppState

log = logging.getLogger("ossdoc.access")
Lifespan = Callable[[], AbstractAsyncContextManager[AppState]]


class OSSApp:
    """Every path is an OSS resource, except ``/-/…`` (not a valid bucket name), kept for the
    console and health checks."""

    def __init__(self, router: Router, lifespan: Lifespan, extra: Any = None, observer: Any = None) -> None:
        self.router = router
        self.lifespan = lifespan
        self.extra = extra  # ASGI app for /-/ paths
        self.observer: Observer | None = observer  # metrics, usage and a log line per request
        self.state: AppState | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if self.extra is not None and scope.get("raw_path", b"").startswith(b"/-/"):
            await self.extra(scope, receive, send)
            return
        assert self.state is not None, "lifespan not run"
        if self.observer is None:
            response = await self.handle(Request(scope, receive), self.state)
            await response(scope, receive, send)
            return
        exchange = self.observer.exchange(receive, send)
        try:
            response = await self.handle(Request(scope, exchange.receive), self.state)
            await response(scope, exchange.receive, exchange.send)
        finally:
            exchange.finish(scope)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        manager = self.lifespan()
        try:
            self.state = await manager.__aenter__()
        except BaseException as exc:
            log.exception("startup failed")
            await send({"type": "lifespan.startup.failed", "message": repr(exc)})
            return
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        try:
            await manager.__aexit__(None, None, None)
        finally:
            await send({"type": "lifespan.shutdown.complete"})

    async def handle(self, request: Request, state: AppState) -> Response:
        ctx = Context(request, state, None, None)
        request.scope[access.CONTEXT] = ctx
        try:
            response = await self._dispatch(ctx)
        except errors.OSSError as err:
            response = error_response(ctx, err)
        except Exception as exc:
            full = errors.storage_full(exc)
            if full is None:
                log.exception("internal error on %s %s", request.method, request.url.path)
            else:
                log.warning("storage full on %s %s: %s", request.method, request.url.path, exc)
            response = error_response(ctx, full or errors.InternalError())
        _common_headers(response, ctx)
        return response

    async def _dispatch(self, ctx: Context) -> Response:
        scope = ctx.request.scope
        settings = ctx.state.settings
        ctx.bucket, ctx.key = addressing.resolve(
            ctx.headers.get("host", ""), scope.get("raw_path") or scope["path"].encode(), settings.base_domain
        )
        query = parse_query(scope["query_string"].decode("latin-1"))
        ctx.query_pairs = query
        ctx.query_names = frozenset(name for name, _ in query)
        signed = SignedRequest(
            method=ctx.method,
            raw_path=(scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
            query=query,
            headers=ctx.headers,
            bucket=ctx.bucket,
            key=ctx.key,
            raw_query=scope["query_string"].decode("latin-1"),
        )
        ctx.principal = authenticate(
            signed,
            ctx.state.keys,
            region=settings.region,
            now=time.time(),
            max_skew=settings.max_skew_seconds,
        )
        target: Target = "service" if ctx.bucket is None else "bucket" if ctx.key is None else "object"
        method = ctx.method
        route = self.router.resolve(method, target, ctx.query_names)
        scope[access.ROUTE] = route
        if ctx.key is not None:
            addressing.validate_key(ctx.key)
        if ctx.principal is None:
            await ctx.state.store.authorize_anonymous(ctx.bucket, ctx.key, route.anonymous)
        return await route.handler(ctx)


def _common_headers(response: Response, ctx: Context) -> None:
    """The headers every OSS reply carries, unless the handler set its own (the server's name
    always). On the raw list: MutableHeaders would scan and encode it once per header."""
    raw = response.raw_headers
    present = {name for name, _ in raw}
    if b"server" in present:
        raw[:] = [(name, value) for name, value in raw if name != b"server"]
    raw.append((b"server", b"AliyunOSS"))
    if b"x-oss-request-id" not in present:
        raw.append((b"x-oss-request-id", ctx.request_id.encode()))
    if b"date" not in present:
        raw.append((b"date", http_date().encode()))
    if b"x-oss-server-time" not in present:
        raw.append((b"x-oss-server-time", str(ctx.elapsed_ms()).encode()))


def error_response(ctx: Context, err: errors.OSSError) -> Response:
    headers = {"x-oss-request-id": ctx.request_id, **err.headers}
    if err.status == 304:
        return Response(status_code=304, headers=headers)
    body = xml.error_body(err, ctx.request_id, ctx.headers.get("host", "") or ctx.state.settings.endpoint)
    headers["x-oss-ec"] = _error_ec(err)
    if ctx.method == "HEAD":
        # A HEAD reply has no body; OSS carries the error document in a header instead.
        headers["x-oss-err"] = base64.b64encode(body).decode()
        return Response(status_code=err.status, headers=headers, media_type="application/xml")
    return Response(body, status_code=err.status, headers=headers, media_type="application/xml")


def _error_ec(err: errors.OSSError) -> str:
    # OSS's EC is "<2-digit category>-<8-digit code>"; ossdoc reports one stable value per status.
    return f"00{err.status // 100:02d}-{err.status:08d}"
