"""``ossdoc serve``: the supervisor with its children, the model service and the HTTP workers."""

from __future__ import annotations

import logging
import os
import signal
import socket
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import uvicorn

from ossdoc.backends.llm.base import ModelInfo
from ossdoc.config import Settings
from ossdoc.keys import KeyRing
from ossdoc.runtime import shared
from ossdoc.runtime.supervisor import GRACE_SECONDS, Child, Supervisor, bind, unix_socket_path

log = logging.getLogger("ossdoc")


@dataclass(frozen=True)
class ModelEndpoint:
    """Where the workers reach the machine's model service, and what it serves."""

    socket: Path
    info: ModelInfo


def supervise(settings: Settings, keys: KeyRing) -> int:
    children: list[Child] = []
    model: ModelEndpoint | None = None
    if settings.llm == "local":
        model, child = _model_service(settings)
        children.append(child)
    listeners = bind(settings.host, settings.port, max(1, settings.workers))
    shared.prepare(settings)
    _import_lazy_parts()
    for index, listener in enumerate(listeners):
        others = [other for other in listeners if other is not listener]
        main = partial(run_worker, settings, keys, listener, others, model)
        children.append(Child(f"worker {index}", main))
    supervisor = Supervisor(children, on_exit=partial(_on_exit, settings))
    try:
        return supervisor.run()
    finally:
        for listener in listeners:
            listener.close()


def _import_lazy_parts() -> None:
    """anyio imports its parts on first use; Starlette's first streaming reply in a worker paid for
    them (about 20 ms before its first event). Imported here once, the forked children share them."""
    import anyio

    for name in dir(anyio):
        if not name.startswith("_"):
            getattr(anyio, name)


def _on_exit(settings: Settings, child: Child) -> None:
    """What a dead worker held is given back: its places in the admission queue, its task leases."""
    if child.name.startswith("worker"):
        shared.worker_exited(settings, child.last_pid)


def _model_service(settings: Settings) -> tuple[ModelEndpoint, Child]:
    from ossdoc.models import resolve_model

    # Assembled and verified once, here, before any child needs it.
    path = resolve_model(settings.model, settings.data / "models")
    stat = path.stat()
    extra = {
        "path": str(path),
        "threads": str(settings.threads),
        "version": f"{stat.st_size}-{stat.st_mtime_ns}",
    }
    info = ModelInfo(settings.model, settings.context_size, extra)
    run_dir = settings.data / "run"
    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(run_dir, 0o700)  # the socket is the model: only this user reaches it
    endpoint = ModelEndpoint(unix_socket_path(run_dir, "model.sock"), info)
    return endpoint, Child("model service", partial(run_model_service, settings, path, endpoint.socket))


def run_model_service(settings: Settings, path: Path, socket_path: Path | None) -> None:
    """The model service on ``socket_path``, or (None) on ``settings.host``/``port``: ``ossdoc
    model-service``, for the workers of other machines to share one model server (a pool)."""
    from ossdoc.backends.llm.local import LocalLlama
    from ossdoc.runtime.model_service import create_model_app

    backend = LocalLlama(
        path,
        name=settings.model,
        context_size=settings.context_size,
        threads=settings.threads,
        draft_tokens=settings.draft_tokens,
    )
    where: dict[str, Any] = {"host": settings.host, "port": settings.port}
    api_key = settings.openai_api_key  # what clients on the network must send
    if socket_path is not None:
        where, api_key = {"uds": str(socket_path)}, ""
    config = uvicorn.Config(
        create_model_app(backend, api_key),
        **where,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level=settings.log_level,
        access_log=False,
        log_config=None,  # logging as logs.configure set it (plain or JSON)
        timeout_graceful_shutdown=5,
    )
    _run_quietly(uvicorn.Server(config), None)


def run_worker(
    settings: Settings,
    keys: KeyRing,
    listener: socket.socket,
    others: list[socket.socket],
    model: ModelEndpoint | None,
) -> None:
    from ossdoc.server import create_app
    from ossdoc.wire.protocol import OSSHttpToolsProtocol

    for other in others:  # the other workers' sockets: inherited by the fork, not ours to serve
        other.close()

    config = uvicorn.Config(
        create_app(settings, keys, model=model),
        loop="uvloop",
        http=OSSHttpToolsProtocol,  # OSS XML errors for requests that are not HTTP
        lifespan="on",
        server_header=False,
        date_header=False,
        log_level=settings.log_level,
        access_log=False,
        log_config=None,  # logging as logs.configure set it (plain or JSON)
        timeout_graceful_shutdown=int(GRACE_SECONDS),
    )
    _run_quietly(uvicorn.Server(config), listener)


def _run_quietly(server: uvicorn.Server, listener: socket.socket | None) -> None:
    """Run uvicorn until SIGTERM has drained it. uvicorn raises the signal it caught again once it
    has shut down, which would end the process with -15; ignored here, the child exits with 0."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    server.run(sockets=None if listener is None else [listener])
    if not server.started:
        raise SystemExit(3)  # startup failed: uvicorn has logged why


def serve_model(settings: Settings) -> int:
    """``ossdoc model-service``: the model service alone, on a TCP port, supervised like a worker."""
    from ossdoc.models import resolve_model

    path = resolve_model(settings.model, settings.data / "models")
    return Supervisor([Child("model service", partial(run_model_service, settings, path, None))]).run()
