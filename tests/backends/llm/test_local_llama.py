from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ossdoc.backends.llm.base import Message, Sampling
from ossdoc.backends.llm.local import LocalLlama
from ossdoc.models import resolve_model

pytestmark = [pytest.mark.anyio, pytest.mark.model]
MESSAGES = [
    Message("system", "You are a helpful assistant."),
    Message("user", "Write a long story about a cat."),
]


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> LocalLlama:
    path = resolve_model("smollm2-135m", tmp_path_factory.mktemp("models"))
    return LocalLlama(path, name="smollm2-135m", context_size=2048, threads=2)


async def test_streams_with_exact_usage(llama: LocalLlama) -> None:
    chunks = [c async for c in llama.generate(MESSAGES, Sampling(max_tokens=16, temperature=0))]
    assert chunks[-1].finish_reason in ("stop", "length")
    counts = [c.output_tokens for c in chunks[:-1]]
    assert counts == list(range(1, len(counts) + 1))
    assert chunks[0].input_tokens == len(llama.prompt_tokens(MESSAGES))
    assert "".join(c.text for c in chunks).strip()
    assert await llama.count_tokens("hello world") >= 2


async def test_cancel_stops_the_worker_and_frees_the_model(llama: LocalLlama) -> None:
    before = llama.tokens_after_cancel
    stream: AsyncIterator[object] = llama.generate(MESSAGES, Sampling(max_tokens=400))
    for _ in range(3):
        await stream.__anext__()
    await stream.aclose()  # type: ignore[attr-defined]
    assert llama.tokens_after_cancel - before <= 1
    # The lock is free again: the next generation starts at once.
    second = llama.generate(MESSAGES, Sampling(max_tokens=2))
    first = await asyncio.wait_for(second.__anext__(), timeout=5)
    assert first.output_tokens == 1
    await second.aclose()  # type: ignore[attr-defined]


def test_stop_strings(llama: LocalLlama) -> None:
    async def run() -> str:
        return "".join(
            [
                c.text
                async for c in llama.generate(MESSAGES, Sampling(max_tokens=60, temperature=0, stop=("e",)))
            ]
        )

    text = asyncio.run(run())
    assert "e" not in text
