"""The document service charges a generation's tokens to the request's access key when it ends,
once: a cancelled one what it spent, a continued one only what it adds, a cached answer nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from ossdoc.backends.llm import ScriptedLLM
from ossdoc.config import Settings
from ossdoc.services.docs.generation import Progress, Resume
from ossdoc.services.docs.operations import OPERATIONS
from ossdoc.services.docs.quotas import Quotas, account
from ossdoc.services.docs.registry import Args
from ossdoc.services.docs.service import DocumentService

pytestmark = pytest.mark.anyio
WORDS = " ".join(f"word{n}" for n in range(40))
T = TypeVar("T")


class Recording:
    """A quota counter that admits everything and keeps the charges."""

    def __init__(self) -> None:
        self.charges: list[tuple[str, int]] = []

    def take(self, key_id: str, window: int, rpm: int, tpm: int) -> str | None:
        return None

    def charge(self, key_id: str, window: int, tokens: int) -> None:
        self.charges.append((key_id, tokens))

    def close(self) -> None:
        pass


async def as_key(key_id: str, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` as a request of ``key_id`` would: in a task, whose context is its own."""

    async def run() -> T:
        account.set(key_id)
        return await work()

    return await asyncio.create_task(run())


async def steps(docs: DocumentService, resume: Resume | None = None, stop: int = 0) -> list[Progress]:
    generation = await docs.start(OPERATIONS["doc/polish"], WORDS, Args({}), resume)
    seen = []
    try:
        async for step in generation:
            seen.append(step)
            if stop and len(seen) == stop:
                break
    finally:
        await generation.aclose()
    return seen


def total(step: Progress) -> int:
    return step.input_tokens + step.output_tokens


async def test_tokens_are_charged_once_to_the_request_key() -> None:
    counter = Recording()
    docs = DocumentService(ScriptedLLM(), Settings(), quotas=Quotas(counter))
    whole = (await as_key("alice", lambda: steps(docs)))[-1]
    assert counter.charges == [("alice", total(whole))]
    await as_key("alice", lambda: steps(docs))  # from the cache: no generation, no charge
    assert len(counter.charges) == 1
    uncached = DocumentService(ScriptedLLM(), Settings(cache_bytes=0), quotas=Quotas(counter))
    await steps(uncached)  # no account (a caller that set none): nothing charged
    assert len(counter.charges) == 1


async def test_a_cancelled_then_continued_generation_is_charged_what_each_part_spent() -> None:
    counter = Recording()
    docs = DocumentService(ScriptedLLM(), Settings(cache_bytes=0), quotas=Quotas(counter))
    part = await as_key("bob", lambda: steps(docs, stop=10))
    resume = part[-1].resume
    assert resume is not None
    rest = await as_key("bob", lambda: steps(docs, resume))
    assert [key for key, _ in counter.charges] == ["bob", "bob"]
    assert counter.charges[0][1] == total(part[-1])
    assert sum(tokens for _, tokens in counter.charges) == total(rest[-1])
