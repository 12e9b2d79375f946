from __future__ import annotations

import pytest

from ossdoc.backends.llm import Message, Sampling, ScriptedLLM

pytestmark = pytest.mark.anyio


async def test_scripted_reply_word_by_word() -> None:
    llm = ScriptedLLM(lambda messages: "one two  three")
    chunks = [c async for c in llm.generate([Message("user", "a b")], Sampling())]
    assert [c.text for c in chunks] == ["one ", "two  ", "three", ""]
    assert [c.output_tokens for c in chunks] == [1, 2, 3, 3]
    assert {c.input_tokens for c in chunks} == {2}
    assert chunks[-1].finish_reason == "stop"


async def test_default_script_and_max_tokens() -> None:
    llm = ScriptedLLM()
    chunks = [c async for c in llm.generate([Message("user", "hello big world")], Sampling(max_tokens=2))]
    assert "".join(c.text for c in chunks) == "HELLO BIG "
    assert chunks[-1].finish_reason == "length"


async def test_closing_counts_as_cancelled() -> None:
    llm = ScriptedLLM(lambda m: "a b c d e f")
    stream = llm.generate([Message("user", "x")], Sampling())
    await stream.__anext__()
    await stream.aclose()  # type: ignore[attr-defined]
    assert llm.cancelled == 1
    assert llm.finished == 0
