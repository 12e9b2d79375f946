"""The console's ASGI application, for the ``/-/`` paths that OSSApp hands over.

One page (``/-/``) and its assets, all in this package (no CDN, no build step), and a JSON API
under ``/-/api`` through which the page acts on the services for the signed-in key. The page holds
no secret: the session is an HttpOnly cookie (guard.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ossdoc import errors
from ossdoc.console import documents, preview, signin, storage, tasks
from ossdoc.console.common import error_reply, on_oss_error, on_unexpected
from ossdoc.console.guard import Console
from ossdoc.wire.state import AppState

STATIC = Path(__file__).parent / "static"
# The page loads only its own scripts and styles, and may not be framed (clickjacking).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


NoSuchConsoleRoute = errors.define("NoSuchConsoleRoute", 404, "The console has no such API.")


async def not_found(request: Request) -> Response:
    return error_reply(NoSuchConsoleRoute(f"The console has no API {request.method} {request.url.path}."))


def routes() -> list[Route | Mount]:
    bucket = "/api/buckets/{bucket}"
    api = [
        Route("/api/session", signin.get_session, methods=["GET"]),
        Route("/api/session", signin.sign_in, methods=["POST"]),
        Route("/api/session", signin.sign_out, methods=["DELETE"]),
        Route("/api/buckets", storage.list_buckets, methods=["GET"]),
        Route("/api/buckets", storage.create_bucket, methods=["POST"]),
        Route(bucket, storage.delete_bucket, methods=["DELETE"]),
        Route(f"{bucket}/objects", storage.list_objects, methods=["GET"]),
        Route(f"{bucket}/object", storage.head_object, methods=["GET"]),
        Route(f"{bucket}/object", storage.put_object, methods=["PUT"]),
        Route(f"{bucket}/object", storage.delete_object, methods=["DELETE"]),
        Route(f"{bucket}/folder", storage.delete_folder, methods=["DELETE"]),
        Route(f"{bucket}/download", storage.download, methods=["GET"]),
        Route(f"{bucket}/preview", preview.preview, methods=["GET"]),
        Route(f"{bucket}/uploads", storage.start_upload, methods=["POST"]),
        Route(bucket + "/uploads/{upload}", storage.put_part, methods=["PUT"]),
        Route(bucket + "/uploads/{upload}", storage.abort_upload, methods=["DELETE"]),
        Route(bucket + "/uploads/{upload}/complete", storage.complete_upload, methods=["POST"]),
        Route(f"{bucket}/tasks", tasks.list_tasks, methods=["GET"]),
        Route(f"{bucket}/tasks", tasks.submit, methods=["POST"]),
        Route(bucket + "/tasks/{task}", tasks.get_task, methods=["GET"]),
        Route(bucket + "/tasks/{task}", tasks.cancel_task, methods=["DELETE"]),
        Route("/api/operations", documents.operations, methods=["GET"]),
        Route("/api/process", documents.process, methods=["POST"]),
        Route("/api/{rest:path}", not_found, methods=["GET", "HEAD", "POST", "PUT", "DELETE"]),
    ]
    return [
        Route("/", page, methods=["GET", "HEAD"]),
        *api,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def create_console(state: Callable[[], AppState | None]) -> ASGIApp:
    """The console for the server whose state ``state`` returns (None until its lifespan starts)."""
    app = Starlette(
        routes=routes(),
        exception_handlers={errors.OSSError: on_oss_error, Exception: on_unexpected},
    )
    app.state.console = Console(state)
    return _Prefixed(_with_headers(app))


class _Prefixed:
    """Routes see paths without the ``/-`` they are mounted at."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = {**scope, "root_path": scope.get("root_path", "") + "/-"}
        await self.app(scope, receive, send)


def _with_headers(app: ASGIApp) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (name.lower().encode(), value.encode())
                    for name, value in SECURITY_HEADERS.items()
                    if name.lower().encode() not in present
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped
