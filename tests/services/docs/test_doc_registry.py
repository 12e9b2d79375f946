from __future__ import annotations

import math

import pytest

from ossdoc import errors
from ossdoc.services.docs import OPERATIONS, Args, Limits, Operation, Registry
from ossdoc.services.docs.language import detect
from ossdoc.services.docs.operations import TONES
from ossdoc.services.docs.params import split

SIX = ["doc/translate", "doc/polish", "doc/summarize", "doc/continue", "doc/enrich", "doc/rephrase"]
ARGS = {
    "doc/translate": Args({"language": "fr_FR"}),
    "doc/rephrase": Args({"tone": "friendly"}),
    "doc/continue": Args({"history": ("Once upon a time.", "Then it rained.")}),
}


def test_the_six_operations() -> None:
    assert OPERATIONS.names() == SIX


@pytest.mark.parametrize("name", SIX)
def test_every_operation_builds_a_prompt_around_the_text(name: str) -> None:
    op = OPERATIONS[name]
    text = "The quick brown fox jumps over the lazy dog. {braces} stay as they are."
    messages = op.prompt(text, ARGS.get(name, Args()))
    assert messages[0].role == "system"
    assert messages[1].role == "user"
    assert text in messages[1].content  # as it is: its braces are no format fields
    if name != "doc/translate":  # translate: a one-line request, then the text (operations.py)
        assert f"<text>\n{text}\n</text>" in messages[1].content
    assert "Output only" in messages[0].content
    assert all(m.content.strip() for m in messages)
    assert "</text>" in op.sampling.stop


def test_translate_names_the_target_language() -> None:
    for code, word in (
        ("zh_CN", "Chinese (中文)"),
        ("en_US", "English"),
        ("ja_JP", "Japanese"),
        ("fr_FR", "French"),
    ):
        messages = OPERATIONS["doc/translate"].prompt("hello", Args({"language": code}))
        # In the request (the one-line one's system prompt says only: the translation, nothing else).
        assert word in messages[-1].content.replace("hello", "")
        assert messages[-1].content.endswith(("：\n\nhello", ":\n\nhello"))  # the request, then the text


def test_translate_into_english_or_chinese_keeps_the_template_s_own_system_prompt() -> None:
    roles = {
        code: [m.role for m in OPERATIONS["doc/translate"].prompt("hello", Args({"language": code}))]
        for code in ("zh_CN", "en_US", "ja_JP", "fr_FR")
    }
    assert roles == {
        "zh_CN": ["user"],
        "en_US": ["user"],
        "ja_JP": ["system", "user"],
        "fr_FR": ["system", "user"],
    }


def test_other_operations_write_in_the_language_of_the_text() -> None:
    messages = OPERATIONS["doc/polish"].prompt("四大名著是指中国古典章回小说。", Args())
    assert "Write in Chinese" in messages[0].content


def test_rephrase_describes_each_tone() -> None:
    for tone, description in TONES.items():
        messages = OPERATIONS["doc/rephrase"].prompt("hello", Args({"tone": tone}))
        assert description in messages[0].content


def test_continue_replays_history_as_earlier_turns() -> None:
    messages = OPERATIONS["doc/continue"].prompt("It was a dark night.", ARGS["doc/continue"])
    assert [m.role for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[2].content == "Once upon a time."
    assert messages[4].content == "Then it rained."


def test_language_and_tone_are_validated() -> None:
    limits = Limits()
    for good in ("zh_CN", "en_US", "ja_JP", "fr_FR"):
        OPERATIONS.resolve(split(f"doc/translate,language_{good}"), limits)
    for tone in TONES:
        OPERATIONS.resolve(split(f"doc/rephrase,tone_{tone}"), limits)
    with pytest.raises(errors.InvalidArgument, match="language must be one of zh_CN, en_US, ja_JP, fr_FR"):
        OPERATIONS.resolve(split("doc/translate,language_es_ES"), limits)
    with pytest.raises(errors.InvalidArgument, match="tone must be one of"):
        OPERATIONS.resolve(split("doc/rephrase,tone_sarcastic"), limits)


def test_a_new_operation_is_one_entry() -> None:
    shout = Operation("doc/shout", lambda text, args: [], labels=("shouted",))
    registry = Registry([shout])
    assert registry.resolve(split("doc/shout,content_YQ"), Limits()).operation is shout
    with pytest.raises(AssertionError):
        Registry([shout, shout])


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The committee met on Tuesday and agreed on the budget.", "English"),
        ("Le comité s'est réuni mardi et a voté le budget pour la ville.", "French"),
        ("四大名著是指中国古典章回小说。", "Chinese"),
        ("東京は日本の首都であり、多くの人が住んでいます。", "Japanese"),
        ("12345 !!!", "the same language as the text"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect(text) == language


def test_translate_picks_the_likeliest_token_on_the_sampled_path() -> None:
    # Above 0: not the exact greedy path, whose padded batches halve the decode rate. Low enough that
    # a token whose logit is 0.05 below the best comes out less than once in a hundred draws.
    temperature = OPERATIONS["doc/translate"].sampling.temperature
    assert temperature > 0
    assert math.exp(-0.05 / temperature) < 0.01
    # A translation repeats what its source repeats: no penalty on tokens already written.
    assert OPERATIONS["doc/translate"].sampling.repeat_penalty == 1.0
    assert OPERATIONS["doc/polish"].sampling.repeat_penalty > 1.0
