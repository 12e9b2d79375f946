"""A pool of OpenAI-compatible model servers behind one backend: several llama.cpp servers, vLLM or
SGLang (or their routers), Ollama, or the model services of other ossdoc machines.

- A generation goes to the least-loaded endpoint (its streams in flight), round-robin among equals,
  and never past an endpoint's own limit: when every endpoint is full it waits for a place.
- A circuit breaker takes an endpoint that keeps failing out of rotation; a health check probes it
  (``GET <base>/models``) until it answers, and puts it back.
- An endpoint that fails before the first token is left for another (each is tried once); one that
  fails after it cannot be replaced without a second generation, so the error goes to the client.

Counting tokens goes to the least-loaded endpoint that is up, the first that answers."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from ossdoc.backends.llm.base import Chunk, LLMBackend, Message, ModelInfo, Sampling
from ossdoc.backends.llm.errors import LLMError

log = logging.getLogger("ossdoc.llm")
Probe = Callable[[], Awaitable[bool]]


@dataclass(eq=False)
class Endpoint:
    name: str
    backend: LLMBackend
    probe: Probe  # True when the server answers its health check
    limit: int  # streams it may serve at once
    in_flight: int = 0
    failures: int = 0  # in a row
    down_until: float = 0.0  # out of rotation until then (then probed), 0 when up
    served: int = 0
    order: int = field(default=0)

    @property
    def up(self) -> bool:
        return self.down_until == 0.0


class ModelPool:
    def __init__(
        self,
        endpoints: list[tuple[str, LLMBackend, Probe]],
        *,
        limit: int = 4,
        failure_threshold: int = 3,
        cooldown: float = 5.0,
    ) -> None:
        """``endpoints``: (name, backend, health probe) of each server; ``limit``: streams each may
        serve at once; ``failure_threshold`` failures in a row take one out for ``cooldown``
        seconds, after which it is probed until it answers."""
        if not endpoints:
            raise LLMError("a model pool needs at least one endpoint")
        self.endpoints = [Endpoint(n, b, p, limit, order=i) for i, (n, b, p) in enumerate(endpoints)]
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self._turn = itertools.count()
        self._freed = asyncio.Condition()
        self._prober: asyncio.Task[None] | None = None
        first = endpoints[0][1].info
        context = min(b.info.context_size for _, b, _ in endpoints)
        self._info = ModelInfo(first.name, context, {**first.extra, "endpoints": str(len(endpoints))})

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def capacity(self) -> int:
        """Streams the pool serves at once, all endpoints up."""
        return sum(e.limit for e in self.endpoints)

    async def count_tokens(self, text: str) -> int:
        errors = []
        for endpoint in sorted(self._available(), key=lambda e: e.in_flight):
            try:
                count = await endpoint.backend.count_tokens(text)
            except LLMError as exc:
                self._failed(endpoint, exc)
                errors.append(f"{endpoint.name}: {exc}")
                continue
            self._succeeded(endpoint)
            return count
        raise LLMError("no model server could count tokens: " + ("; ".join(errors) or "all are down"))

    async def generate(self, messages: list[Message], sampling: Sampling) -> AsyncIterator[Chunk]:
        tried: set[Endpoint] = set()
        errors: list[str] = []
        while True:
            endpoint = await self._take(tried)
            if endpoint is None:
                detail = "; ".join(errors) or "every model server is down"
                raise LLMError(f"no model server could serve the request: {detail}")
            tried.add(endpoint)
            started = False
            try:
                async for chunk in endpoint.backend.generate(messages, sampling):
                    started = True
                    yield chunk
            except LLMError as exc:
                self._failed(endpoint, exc)
                if started:
                    raise LLMError(
                        f"model server {endpoint.name} failed in the middle of a reply: {exc}"
                    ) from exc
                errors.append(f"{endpoint.name}: {exc}")
                log.warning(
                    "model server %s failed before the first token (%s): trying another", endpoint.name, exc
                )
                continue
            finally:
                await self._give_back(endpoint)
            self._succeeded(endpoint)
            return

    async def close(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
        for endpoint in self.endpoints:
            await endpoint.backend.close()

    def _available(self) -> list[Endpoint]:
        return [e for e in self.endpoints if e.up]

    async def _take(self, tried: set[Endpoint]) -> Endpoint | None:
        """The least-loaded endpoint that is up and not tried yet, waiting while all are full; None
        when no endpoint is left to try."""
        async with self._freed:
            while True:
                candidates = [e for e in self._available() if e not in tried]
                if not candidates:
                    return None
                free = [e for e in candidates if e.in_flight < e.limit]
                if free:
                    turn = next(self._turn)
                    least = min(e.in_flight for e in free)
                    tied = [e for e in free if e.in_flight == least]
                    chosen = tied[turn % len(tied)]
                    chosen.in_flight += 1
                    chosen.served += 1
                    return chosen
                await self._freed.wait()

    async def _give_back(self, endpoint: Endpoint) -> None:
        async with self._freed:
            endpoint.in_flight -= 1
            self._freed.notify_all()

    def _succeeded(self, endpoint: Endpoint) -> None:
        endpoint.failures = 0

    def _failed(self, endpoint: Endpoint, exc: Exception) -> None:
        endpoint.failures += 1
        if endpoint.up and endpoint.failures >= self.failure_threshold:
            endpoint.down_until = time.monotonic() + self.cooldown
            log.error(
                "model server %s is out of rotation after %d failures: %s",
                endpoint.name,
                endpoint.failures,
                exc,
            )
            self._watch()

    def _watch(self) -> None:
        if self._prober is None or self._prober.done():
            self._prober = asyncio.create_task(self._probe_down())

    async def _probe_down(self) -> None:
        """Probe the endpoints out of rotation, each once its cooldown has passed, until all are back."""
        while True:
            down = [e for e in self.endpoints if not e.up]
            if not down:
                return
            now = time.monotonic()
            for endpoint in down:
                if endpoint.down_until > now:
                    continue
                try:
                    ok = await endpoint.probe()
                except Exception:
                    ok = False
                if ok:
                    endpoint.down_until, endpoint.failures = 0.0, 0
                    log.warning("model server %s answers again: back in rotation", endpoint.name)
                    async with self._freed:
                        self._freed.notify_all()
                else:
                    endpoint.down_until = time.monotonic() + self.cooldown
            await asyncio.sleep(min(1.0, self.cooldown))
