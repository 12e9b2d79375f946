"""The state worker processes share: in the data dir (SQLite, one machine), or in Redis
(``OSSDOC_REDIS_URL``: every replica). What a worker opens (``open_state``), and what the
supervisor does: set it up before the workers start, and take back what a worker that died held."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from ossdoc.backends.state import admission, owner_prefix
from ossdoc.backends.state.admission import SQLiteAdmission
from ossdoc.backends.state.quotas import SQLiteCounter
from ossdoc.backends.state.streams import Journal, StreamJournal
from ossdoc.backends.tasks import SQLiteTaskStore, TaskStore
from ossdoc.backends.tasks.sqlite import expire_leases
from ossdoc.config import Settings
from ossdoc.observability import metrics
from ossdoc.services.docs.admission import Admission
from ossdoc.services.docs.cache import Cache, ResultCache
from ossdoc.services.docs.quotas import Quotas

log = logging.getLogger("ossdoc.supervisor")


@dataclass(frozen=True)
class SharedState:
    admission: Admission
    streams: Journal
    tasks: TaskStore
    quotas: Quotas
    cache: Cache


async def open_state(settings: Settings, stack: AsyncExitStack) -> SharedState:
    """A worker's handles on the shared state, closed by ``stack``."""
    if settings.redis_url:
        from ossdoc.backends.state.redis_admission import RedisAdmission
        from ossdoc.backends.state.redis_cache import RedisCache
        from ossdoc.backends.state.redis_client import RedisState
        from ossdoc.backends.state.redis_quotas import RedisCounter
        from ossdoc.backends.state.redis_streams import RedisJournal
        from ossdoc.backends.tasks.redis import RedisTaskStore

        # Connecting waits on the network (at most the connect timeout): not on the event loop.
        redis = await asyncio.to_thread(RedisState, settings.redis_url, settings.redis_prefix)
        stack.callback(redis.close)
        tasks: TaskStore = RedisTaskStore(settings.redis_url, settings.redis_prefix)
        stack.push_async_callback(tasks.close)
        return SharedState(
            RedisAdmission(redis),
            RedisJournal(redis, ttl=settings.resume_seconds, max_bytes=settings.resume_bytes),
            tasks,
            Quotas(RedisCounter(redis)),
            RedisCache(redis, settings.cache_bytes) if settings.cache_bytes > 0 else ResultCache(0),
        )
    data = settings.data
    places = SQLiteAdmission(admission_path(data))
    stack.callback(places.close)
    streams = StreamJournal(streams_path(data), ttl=settings.resume_seconds, max_bytes=settings.resume_bytes)
    stack.callback(streams.close)
    tasks = await SQLiteTaskStore.open(tasks_path(data), settings.fsync)
    stack.push_async_callback(tasks.close)
    quotas = Quotas(SQLiteCounter(quotas_path(data)))
    stack.callback(quotas.close)
    cache = await asyncio.to_thread(ResultCache, settings.cache_bytes, data / "cache.sqlite3")
    stack.callback(cache.close)
    return SharedState(places, streams, tasks, quotas, cache)


def admission_path(data: Path) -> Path:
    return data / "run" / "admission.sqlite3"


def tasks_path(data: Path) -> Path:
    return data / "tasks.sqlite3"


def metrics_path() -> Path:
    """Where the workers' metrics live: memory-mapped files that grow as label sets appear, so never
    on the data dir's filesystem (once that is full, touching a new page of them would kill the
    worker with SIGBUS), but in memory (/dev/shm) where there is one. Unique to this server."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix="ossdoc-metrics-", dir=shm if shm.is_dir() else None))


def streams_path(data: Path) -> Path:
    return data / "run" / "streams.sqlite3"


def quotas_path(data: Path) -> Path:
    return data / "run" / "quotas.sqlite3"


def prepare(settings: Settings) -> None:
    """Before any worker starts: nothing of an earlier run holds a place in the queue, and the
    tasks it was running can be taken up at once (their attempt is counted). In Redis, other
    replicas' state is theirs: what this machine's earlier run held expires with its heartbeats."""
    if settings.redis_url:
        return
    data = settings.data
    admission.clear(admission_path(data))
    expire_leases(tasks_path(data), owner_prefix())
    _stop_streams(data, owner_prefix())


def worker_exited(settings: Settings, pid: int) -> None:
    """A worker has exited (or died): the places in the queue it held are free again, and the tasks
    it ran can be taken up by another worker at once."""
    data = settings.data
    try:
        if settings.redis_url:
            _reap_redis(settings, owner_prefix(pid))
            metrics.worker_exited(pid)
            return
        admission.forget(admission_path(data), pid)
        expire_leases(tasks_path(data), owner_prefix(pid))
        _stop_streams(data, owner_prefix(pid))
        metrics.worker_exited(pid)
    except Exception:  # the supervisor must go on whatever happens here
        log.exception("could not reclaim what worker %d held", pid)


def _reap_redis(settings: Settings, prefix: str) -> None:
    from ossdoc.backends.state.redis_client import RedisState

    state = RedisState(settings.redis_url, settings.redis_prefix, owner="supervisor", beat=False)
    try:
        state.reap(owner_prefix=prefix)
    finally:
        state.close()


def _stop_streams(data: Path, prefix: str) -> None:
    """Streams a dead process was generating can be continued by a client that resumes them."""
    journal = StreamJournal(streams_path(data))
    try:
        journal.stop_owner(prefix)
    finally:
        journal.close()
