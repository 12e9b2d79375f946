from __future__ import annotations

import itertools

import pytest

from ossdoc.backends.llm.fake import ScriptedLLM, pieces
from ossdoc.config import Settings
from ossdoc.services.docs import OPERATIONS, Args, DocumentService
from ossdoc.services.docs.metrics import COUNTERS
from ossdoc.services.docs.repetition import HOLD_CHARS, LOOP_CHARS, LoopGuard, repeated_tail
from ossdoc.wire import sse
from tiny_llm import collect

pytestmark = pytest.mark.anyio
POLISH = OPERATIONS["doc/polish"]
SOURCE = "He say yes. They say no."
LOOP = "He said yes. " + "They said no. " * 30


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("今日は天気がいいです。" + "彼は言った。" * 6, "今日は天気がいいです。彼は言った。"),
        ("Hello. He said yes and no. He said yes and no. He said yes and", "Hello. He said yes and no."),
        ("x" + "=" * 20, "x="),
        ("A line\nthe same line\nthe same line\n", "A line\nthe same line\n"),
    ],
)
def test_a_repeated_tail_keeps_its_unit_once(text: str, kept: str) -> None:
    repeat = repeated_tail(text, HOLD_CHARS)
    assert repeat is not None and text[: repeat.kept] == kept


@pytest.mark.parametrize(
    "text", ["abc", "He said no, no.", "A normal sentence that goes on without repeating itself at all."]
)
def test_text_that_does_not_repeat(text: str) -> None:
    assert repeated_tail(text, HOLD_CHARS) is None
    assert LoopGuard("").release(text) == len(text)


def test_a_loop_needs_length_and_repeats() -> None:
    guard = LoopGuard("")
    assert guard.loop("They said no. " * 3) is None  # 42 characters
    # Counted after the unit's first time: LOOP_CHARS repeated characters.
    assert guard.loop("ー" * LOOP_CHARS) is None
    assert guard.loop("ー" * (LOOP_CHARS + 1)) is not None
    assert guard.loop(LOOP) is not None
    # A unit the source repeats itself is not a loop, in any rotation.
    assert LoopGuard("Go team! Go team! Go team!").loop("Go team! " * 12) is None
    assert LoopGuard("team! Go team! Go team").loop(" Go team!" * 12) is None


def service(llm: ScriptedLLM, **settings: int) -> DocumentService:
    return DocumentService(llm, Settings(cache_bytes=0, **settings))  # type: ignore[arg-type]


async def test_a_loop_is_stopped_and_its_repeats_never_shown() -> None:
    llm = ScriptedLLM(lambda messages: LOOP)
    before = COUNTERS.truncated
    steps = await collect(await service(llm).start(POLISH, SOURCE, Args()))
    final = steps[-1]
    # What went out before the repeat was recognised stays (fewer than HOLD_CHARS characters).
    assert final.text == "He said yes. They said no. They" and final.finish_reason == "length"
    assert all(step.text.count("They said no.") <= 1 for step in steps)
    assert all(b.text.startswith(a.text) for a, b in itertools.pairwise(steps))
    # Stopped within a few repeats, not at the output limit; every token generated is counted.
    assert llm.cancelled == 1 and final.output_tokens < len(pieces(LOOP)) // 3
    assert COUNTERS.truncated == before + 1


async def test_a_json_reply_keeps_the_unit_once() -> None:
    llm = ScriptedLLM(lambda messages: LOOP)
    result = await (await service(llm).start(POLISH, SOURCE, Args(), streamed=False)).result()
    assert result.text == "He said yes. They said no." and result.finish_reason == "length"
    assert llm.cancelled == 1
    assert sse.payload(result, "ID1", id_key="RequestID")["Truncated"] is True  # ossdoc's extension


async def test_a_short_repeat_goes_out_whole() -> None:
    reply = "He said: they said no. they said no. And then he left the room."
    steps = await collect(await service(ScriptedLLM(lambda messages: reply)).start(POLISH, SOURCE, Args()))
    assert steps[-1].text == reply and steps[-1].finish_reason == "stop"
    assert all(b.text.startswith(a.text) for a, b in itertools.pairwise(steps))


async def test_a_repetition_of_the_source_is_no_loop() -> None:
    source = "Go team! " * 12
    llm = ScriptedLLM(lambda messages: source.strip())
    steps = await collect(await service(llm).start(POLISH, source, Args()))
    assert steps[-1].text == source.strip() and steps[-1].finish_reason == "stop"
