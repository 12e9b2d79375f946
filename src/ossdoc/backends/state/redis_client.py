"""The connection to the Redis that replicas share (``OSSDOC_REDIS_URL``), and the liveness of the
processes that hold state in it.

Every process that holds places in the queue, streams or task leases in Redis is an *owner*
(``process_owner()``): it registers in the set ``<prefix>owners`` and keeps the key
``<prefix>alive:<owner>`` alive with a heartbeat thread. An owner whose key expired (its process or
its whole machine died: nothing else tells) is reaped by whichever process beats next: its places
are given back, its streams can be continued and its tasks claimed at once.

redis-py's synchronous client is used on the event loop (admission, journal, quotas), as SQLite
was: a loopback round trip costs about as much as a SQLite transaction (``tests`` measure it), and
the socket timeouts bound the wait when Redis is gone. Any Redis failure becomes
``503 ServiceUnavailable`` naming Redis, never a hang or a 500."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from ossdoc import errors
from ossdoc.backends.state import process_owner

if TYPE_CHECKING:
    import redis

log = logging.getLogger("ossdoc.redis")
SOCKET_TIMEOUT = 2.0  # a command that takes longer: Redis is taken as unavailable
CONNECT_TIMEOUT = 1.0
ALIVE_SECONDS = 10.0  # an owner silent this long is dead
BEAT_SECONDS = 2.0
P = ParamSpec("P")
R = TypeVar("R")

# Reaping one dead owner, atomically and only if it is still dead: its places in the queue go, its
# task leases end. (Its streams are stopped by the caller: finding them needs SCAN.)
REAP = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
local owner = cjson.encode(ARGV[1])
for _, id in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  local task = ARGV[2] .. id
  if redis.call('HGET', task, 'owner') == owner and redis.call('HGET', task, 'state') == '"Running"' then
    redis.call('HSET', task, 'lease_until', '0.0')
  end
end
return 1
"""


def module() -> Any:
    """redis-py, or a clear error when it is not installed."""
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - the redis extra is not installed
        raise RuntimeError(
            "OSSDOC_REDIS_URL needs redis-py: pip install 'ossdoc[redis]' (redis==8.1.0)"
        ) from exc
    return redis


def connect(url: str) -> redis.Redis:
    client: redis.Redis = module().Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=CONNECT_TIMEOUT,
        health_check_interval=30,
    )
    return client


def unavailable(exc: Exception) -> errors.OSSError:
    # The cause (an address, a Redis error) is for the log, not for clients.
    log.warning("redis: %s", exc)
    return errors.ServiceUnavailable("The shared state store (Redis) is unavailable; retry later.")


@contextmanager
def guarded() -> Iterator[None]:
    """Redis errors as ``503 ServiceUnavailable``."""
    try:
        yield
    except module().RedisError as exc:
        raise unavailable(exc) from exc


def guard(method: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        with guarded():
            return method(*args, **kwargs)

    return call


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def raw(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


class RedisState:
    """One process's connection and heartbeat. ``owner``: this process (tests name others)."""

    def __init__(
        self,
        url: str,
        prefix: str = "ossdoc:",
        *,
        owner: str | None = None,
        alive_seconds: float = ALIVE_SECONDS,
        beat: bool = True,
    ) -> None:
        self.client = connect(url)
        self.prefix = prefix
        self.owner = owner or process_owner()
        self.alive_seconds = alive_seconds
        self.lock = threading.Lock()  # a beat and an admission never interleave (RedisAdmission)
        self._beats: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._reap = self.client.register_script(REAP)
        self._thread: threading.Thread | None = None
        if beat:
            self._thread = threading.Thread(target=self._run, name="ossdoc-redis-beat", daemon=True)
            self._thread.start()

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def alive_key(self, owner: str) -> str:
        return self.key("alive", owner)

    def on_beat(self, callback: Callable[[], None]) -> None:
        self._beats.append(callback)

    def beat(self) -> None:
        """Say this owner is alive, run the callbacks (under the lock), reap dead owners."""
        with self.lock:
            pipe = self.client.pipeline()
            pipe.set(self.alive_key(self.owner), "1", px=int(self.alive_seconds * 1000))
            pipe.sadd(self.key("owners"), self.owner)
            pipe.execute()
            for callback in self._beats:
                callback()
        self.reap()

    def reap(self, owner_prefix: str = "") -> list[str]:
        """Release what dead owners held; ``owner_prefix``: also those (known dead) whose name starts
        with it, alive key or not. The owners reaped."""
        owners = [text(o) for o in self.client.smembers(self.key("owners"))]
        if owner_prefix:
            known = [o for o in owners if o.startswith(owner_prefix) and o != self.owner]
            if known:
                self.client.delete(*(self.alive_key(o) for o in known))
        alive = self.client.exists(*(self.alive_key(o) for o in owners)) if owners else 0
        if alive == len(owners):
            return []
        reaped = []
        for owner in owners:
            keys = [
                self.alive_key(owner),
                self.key("places"),
                self.key("owners"),
                self.key("tasks", "unfinished"),
            ]
            if self._reap(keys=keys, args=[owner, self.key("task", "")]):
                reaped.append(owner)
                self._stop_streams(owner)
        if reaped:
            log.info("redis: reclaimed what %d dead process(es) held: %s", len(reaped), ", ".join(reaped))
        return reaped

    def _stop_streams(self, owner: str) -> None:
        # redis_streams builds on this module: imported here, not at the top.
        from ossdoc.backends.state.redis_streams import STOP_OWNER

        stop = self.client.register_script(STOP_OWNER)
        for key in self.client.scan_iter(match=self.key("stream", "*"), count=500):
            stop(keys=[key], args=[owner])

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.client.close()

    def _run(self) -> None:
        while True:
            try:
                self.beat()
            except Exception as exc:  # Redis away: the next beat tries again
                log.warning("redis heartbeat: %s", exc)
            if self._stop.wait(BEAT_SECONDS):
                return
