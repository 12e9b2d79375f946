from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ossdoc.backends.llm import LLMError, Message, Sampling, ScriptedLLM, create_backend
from ossdoc.config import Settings

pytestmark = pytest.mark.anyio


async def test_scripted_reply_word_by_word() -> None:
    llm = ScriptedLLM(lambda messages: "one two  three")
    messages = [Message("system", "be brief"), Message("user", "a b c")]
    chunks = [c async for c in llm.generate(messages, Sampling())]
    assert [c.text for c in chunks] == ["one ", "two  ", "three", ""]
    assert [c.output_tokens for c in chunks] == [1, 2, 3, 3]
    assert {c.input_tokens for c in chunks} == {5}  # every message's pieces
    assert [c.finish_reason for c in chunks] == [None, None, None, "stop"]
    assert llm.calls == [messages]
    assert (llm.finished, llm.cancelled, llm.last_cancelled) == (1, 0, False)


async def test_default_script_and_max_tokens() -> None:
    llm = ScriptedLLM()
    chunks = [c async for c in llm.generate([Message("user", "hello big world")], Sampling(max_tokens=2))]
    assert "".join(c.text for c in chunks) == "HELLO BIG "
    assert chunks[-1].finish_reason == "length"
    assert await llm.count_tokens("hello big  world ") == 3


async def test_closing_counts_as_cancelled() -> None:
    llm = ScriptedLLM(lambda m: "a b c d e f")
    stream = llm.generate([Message("user", "x")], Sampling())
    await stream.__anext__()
    await stream.aclose()  # type: ignore[attr-defined]
    assert (llm.cancelled, llm.finished, llm.last_cancelled, llm.tokens_after_cancel) == (1, 0, True, 0)
    [c async for c in llm.generate([Message("user", "x")], Sampling())]
    assert llm.last_cancelled is False


async def test_token_delay_and_task_cancellation() -> None:
    llm = ScriptedLLM(lambda m: "a b c d e f", token_delay=0.05)
    seen: list[str] = []

    async def consume() -> None:
        async for chunk in llm.generate([Message("user", "x")], Sampling()):
            seen.append(chunk.text)

    task = asyncio.create_task(consume())
    while len(seen) < 2:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 2 <= len(seen) < 6
    assert llm.cancelled == 1 and llm.last_cancelled


def test_create_backend_by_name(tmp_path: Path) -> None:
    fake = create_backend(Settings(llm="fake", context_size=512, fake_token_delay_ms=7), tmp_path)
    assert isinstance(fake, ScriptedLLM)
    assert (fake.token_delay, fake.info.context_size) == (0.007, 512)
    with pytest.raises(LLMError, match="unknown LLM backend"):
        create_backend(Settings(llm="nope"), tmp_path)
