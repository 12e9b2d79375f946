"""Assemble the application from settings and run it on uvicorn."""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from starlette.routing import Mount, Router

from ossdoc.backends.llm import LLMBackend, create_backend, model_slots
from ossdoc.backends.storage import open_storage
from ossdoc.config import Settings
from ossdoc.console import create_console
from ossdoc.keys import AccessKey, KeyRing, load_or_create
from ossdoc.observability import logs, metrics
from ossdoc.observability.access import Observer
from ossdoc.observability.routes import routes as observability_routes
from ossdoc.runtime import shared
from ossdoc.runtime.model_client import model_client
from ossdoc.runtime.serve import ModelEndpoint, supervise
from ossdoc.services.docs import DocumentService
from ossdoc.services.docs.tasks import TaskRunner, executor
from ossdoc.services.multipart import Multipart
from ossdoc.services.objects import ObjectStore
from ossdoc.wire.app import OSSApp
from ossdoc.wire.routes import router
from ossdoc.wire.state import AppState

log = logging.getLogger("ossdoc")


def create_app(settings: Settings, keys: KeyRing, *, model: ModelEndpoint | None = None) -> OSSApp:
    """The application of one HTTP worker. ``model``: the machine's model service, which serves the
    embedded model to every worker (else the backend ``settings.llm`` names is made here)."""

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[AppState]:
        async with AsyncExitStack() as stack:
            store = ObjectStore(await open_storage(settings))
            stack.push_async_callback(store.close)
            # Loading a model reads and maps gigabytes: done in a thread, so the loop stays free.
            if model is not None:
                backend: LLMBackend = model_client(model, settings)
            else:
                backend = await asyncio.to_thread(create_backend, settings, settings.data)
            stack.push_async_callback(backend.close)
            state = await shared.open_state(settings, stack)
            slots = model_slots(settings)
            docs = DocumentService(
                backend,
                settings,
                slots=slots,
                cache=state.cache,
                admission=state.admission,
                quotas=state.quotas,
            )
            execute = executor(docs, store, settings.max_document_bytes)
            tasks = TaskRunner(
                state.tasks, execute, workers=settings.task_workers, retries=settings.task_retries
            )
            await tasks.start()
            stack.push_async_callback(tasks.close)  # first: it records where running tasks stopped
            stack.callback(observer.close)
            yield AppState(
                settings=settings,
                keys=keys,
                store=store,
                multipart=Multipart(store),
                docs=docs,
                tasks=tasks,
                streams=state.streams,
                quotas=state.quotas,
            )

    observer = Observer(router, settings.data)
    app = OSSApp(router, lifespan, observer=observer)
    # Under /-/: health, metrics and usage, then the web console for every other path.
    extra = [*observability_routes(lambda: app.state, settings.data, observer)]
    app.extra = Router([*extra, Mount("", app=create_console(lambda: app.state))])
    return app


def announce(settings: Settings, keys: KeyRing, generated: AccessKey | None) -> None:
    """What an operator needs at start, on stderr whatever the log level."""
    lines = [
        f"ossdoc listening on http://{settings.host}:{settings.port} with {settings.workers} worker(s) "
        f"(data in {settings.data.resolve()}, "
        f"region {settings.region}, access key id {keys.keys[0].id if keys.keys else '(none)'}, "
        f"model backend {settings.llm})"
    ]
    lines.append(f"web console: http://{settings.host}:{settings.port}/-/")
    if generated is not None:
        # Shown this once: afterwards the secret is only in the keys file (mode 0600).
        lines.append(
            f"generated a new access key pair, stored in {settings.data / 'keys.json'}:\n"
            f"  AccessKeyId:     {generated.id}\n  AccessKeySecret: {generated.secret}"
        )
    print("\n".join(lines), file=sys.stderr, flush=True)


def serve(settings: Settings) -> int:
    logs.configure(settings.log_level, settings.log_format)
    # Before any worker starts: the directory where every worker's metrics are summed.
    metrics_dir = shared.metrics_path()
    metrics.prepare(metrics_dir)
    try:
        keys, generated = load_or_create(settings.data, settings.access_key_id, settings.access_key_secret)
        announce(settings, keys, generated)
        return supervise(settings, keys)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
