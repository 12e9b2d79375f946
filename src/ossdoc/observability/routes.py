"""``/-/metrics``, ``/-/healthz``, ``/-/readyz`` and ``/-/usage``: Starlette routes that sit beside the
console's under the app's ``/-/`` mount (``OSSApp.extra``).

``/-/usage`` answers a request signed like any OSS request (V1 or V4, header or presigned URL) for
the resource ``/-/usage``: every access key's totals, the caller's marked."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ossdoc import errors
from ossdoc.observability import metrics
from ossdoc.wire import xml
from ossdoc.wire.auth import SignedRequest, authenticate

if TYPE_CHECKING:
    from ossdoc.observability.access import Observer
    from ossdoc.services.docs import DocumentService
    from ossdoc.wire.state import AppState

StateOf = Callable[[], "AppState | None"]


def routes(state_of: StateOf, data: Path | None, observer: Observer | None = None) -> list[BaseRoute]:
    """The routes; ``state_of`` gives the app's state once its lifespan has started."""

    async def metrics_page(request: Request) -> Response:
        body, content_type = await asyncio.to_thread(metrics.render, data)
        return Response(body, media_type=content_type)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        state = state_of()
        checks = {"started": state is not None, "model": False, "storage": False, "shared_state": False}
        if state is not None:
            checks["model"] = state.docs is not None and await _model_ready(state.docs.backend)
            checks["storage"] = await asyncio.to_thread(_writable, state.settings.data)
            checks["shared_state"] = state.docs is not None and await asyncio.to_thread(_readable, state.docs)
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503
        )

    async def usage_page(request: Request) -> Response:
        state = state_of()
        if state is None:
            return JSONResponse({"Code": "ServiceUnavailable"}, status_code=503)
        try:
            caller = _authenticate(request, state)
        except errors.OSSError as err:
            body = xml.error_body(err, uuid.uuid4().hex[:24].upper(), request.headers.get("host", ""))
            return Response(body, status_code=err.status, media_type="application/xml", headers=err.headers)
        if observer is not None and observer.usage is not None:
            rows = await asyncio.to_thread(observer.usage.totals)
        else:
            from ossdoc.observability.usage import totals

            rows = await asyncio.to_thread(totals, state.settings.data)
        for row in rows:
            row["Caller"] = row["AccessKeyId"] == caller
        return JSONResponse({"Usage": rows})

    return [
        Route("/-/metrics", metrics_page, methods=["GET"]),
        Route("/-/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/-/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/-/usage", usage_page, methods=["GET"]),
    ]


def _authenticate(request: Request, state: AppState) -> str:
    scope = request.scope
    query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    signed = SignedRequest(
        method=request.method,
        raw_path=(scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
        query=query,
        headers={k.lower(): v for k, v in request.headers.items()},
        bucket="-",
        key="usage",
        raw_query=scope["query_string"].decode("latin-1"),
    )
    settings = state.settings
    principal = authenticate(
        signed, state.keys, region=settings.region, now=time.time(), max_skew=settings.max_skew_seconds
    )
    if principal is None:
        raise errors.AccessDenied("Usage is shown to signed requests only.")
    return principal


def _readable(docs: DocumentService) -> bool:
    """The state replicas share (the admission count: SQLite, or Redis) answers."""
    try:
        docs.admission.taken()
    except errors.OSSError:
        return False
    return True


def _writable(data: Path) -> bool:
    probe = data / f".ready-{os.getpid()}"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
        return True
    except OSError:
        return False


async def _model_ready(backend: object) -> bool:
    """A model server (the machine's model service, or another) answers its health check; an
    embedded model is ready once loaded."""
    alive = getattr(backend, "alive", None)
    if alive is None:
        return True
    try:
        return bool(await asyncio.wait_for(alive(), 2.0))
    except TimeoutError:
        return False
