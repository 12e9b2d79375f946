"""The pool of model servers: least-loaded choice, per-endpoint limits, retry before the first
token, a clear error after it, and a circuit breaker that a health check closes again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ossdoc.backends.llm import LLMError, Message, ScriptedLLM
from ossdoc.backends.llm.base import Chunk, Sampling
from ossdoc.backends.llm.pool import ModelPool

pytestmark = pytest.mark.anyio
HELLO = [Message("user", "hello there")]


class Server(ScriptedLLM):
    """A scripted server that can be made to fail at its start or after its first token, or to
    hold its streams open until released."""

    def __init__(self, name: str) -> None:
        super().__init__(lambda messages: f"from {name}")
        self.name = name
        self.fail_at_start = False
        self.fail_after_first = False
        self.hold = asyncio.Event()
        self.hold.set()
        self.alive = True
        self.started = 0

    async def count_tokens(self, text: str) -> int:
        if self.fail_at_start:
            raise LLMError(f"{self.name} is down")
        return await super().count_tokens(text)

    async def generate(self, messages: list[Message], sampling: Sampling) -> AsyncIterator[Chunk]:
        self.started += 1
        if self.fail_at_start:
            raise LLMError(f"{self.name} refused the connection")
        first = True
        async for chunk in super().generate(messages, sampling):
            await self.hold.wait()
            yield chunk
            if first and self.fail_after_first:
                raise LLMError(f"{self.name} died")
            first = False

    async def probe(self) -> bool:
        return self.alive


def pool_of(*servers: Server, limit: int = 2, cooldown: float = 0.05) -> ModelPool:
    endpoints = [(s.name, s, s.probe) for s in servers]
    return ModelPool(endpoints, limit=limit, failure_threshold=2, cooldown=cooldown)


async def text_of(pool: ModelPool) -> str:
    return "".join([chunk.text async for chunk in pool.generate(HELLO, Sampling())])


async def test_requests_go_round_robin_among_idle_servers() -> None:
    a, b = Server("a"), Server("b")
    pool = pool_of(a, b)
    assert [await text_of(pool) for _ in range(4)] == ["from a", "from b", "from a", "from b"]


async def test_the_least_loaded_server_is_chosen_and_a_full_pool_waits() -> None:
    a, b = Server("a"), Server("b")
    a.hold.clear()
    pool = pool_of(a, b, limit=1)
    held = asyncio.create_task(text_of(pool))  # takes a, and stays there
    while a.started == 0:
        await asyncio.sleep(0)
    assert await text_of(pool) == "from b"  # a is busy: b, though a's turn
    b.hold.clear()
    second = asyncio.create_task(text_of(pool))  # b busy too
    third = asyncio.create_task(text_of(pool))  # both full: it waits
    await asyncio.sleep(0.05)
    assert (a.started, b.started) == (1, 2) and not third.done()
    a.hold.set()
    b.hold.set()
    assert {await held, await second, await third} <= {"from a", "from b"}
    assert a.started + b.started == 4


async def test_a_failure_before_the_first_token_is_retried_on_another_server() -> None:
    a, b = Server("a"), Server("b")
    a.fail_at_start = True
    pool = pool_of(a, b)
    assert await text_of(pool) == "from b"
    assert await text_of(pool) == "from b"
    assert not pool.endpoints[0].up  # two failures in a row: out of rotation
    assert await text_of(pool) == "from b"
    assert a.started == 2


async def test_a_failure_after_the_first_token_is_a_clear_error() -> None:
    a = Server("a")
    a.fail_after_first = True
    pool = pool_of(a, Server("b"))
    with pytest.raises(LLMError, match="failed in the middle of a reply"):
        await text_of(pool)


async def test_no_server_left_is_a_clear_error() -> None:
    a, b = Server("a"), Server("b")
    a.fail_at_start = b.fail_at_start = True
    pool = pool_of(a, b)
    with pytest.raises(LLMError, match=r"no model server could serve the request: a: .*; b: "):
        await text_of(pool)
    with pytest.raises(LLMError, match="no model server could count tokens"):
        await pool.count_tokens("hello")


async def test_a_server_out_of_rotation_comes_back_when_its_health_check_answers() -> None:
    a, b = Server("a"), Server("b")
    a.fail_at_start, a.alive = True, False
    pool = pool_of(a, b)
    await text_of(pool)
    await text_of(pool)
    assert not pool.endpoints[0].up
    await asyncio.sleep(0.2)
    assert not pool.endpoints[0].up  # probed, still down
    a.fail_at_start, a.alive = False, True
    for _ in range(100):
        if pool.endpoints[0].up:
            break
        await asyncio.sleep(0.02)
    assert pool.endpoints[0].up
    assert sorted([await text_of(pool), await text_of(pool)]) == ["from a", "from b"]
    await pool.close()
