from __future__ import annotations

import itertools
from typing import cast

import pytest

from ossdoc.backends.llm.base import Message, Sampling
from ossdoc.backends.llm.fake import ScriptedLLM, in_turn, pieces
from ossdoc.config import Settings
from ossdoc.services.docs import OPERATIONS, Args, DocumentService, pipeline
from ossdoc.services.docs.language import INSIST, RESTART_PENALTY, StartCheck, insist, is_cjk, steer
from ossdoc.services.docs.metrics import COUNTERS
from ossdoc.services.docs.registry import DocRequest, Operation
from ossdoc.services.objects import ObjectStore
from tiny_llm import collect

pytestmark = pytest.mark.anyio
TRANSLATE = OPERATIONS["doc/translate"]
ENGLISH = "The BBC said on Monday that the talks had failed."
JAPANESE = "BBC は 月曜日、 協議が 決裂したと 伝えた。"


@pytest.mark.parametrize(
    ("expected", "source", "text", "final", "verdict"),
    [
        # Into a CJK language: a Han or kana character decides at once, Latin words wait for one.
        ("Japanese", ENGLISH, "BBC", False, None),
        ("Japanese", ENGLISH, "BBC は", False, True),
        ("Japanese", ENGLISH, "The BBC", False, None),
        ("Japanese", ENGLISH, "President Joko Widodoは", False, True),
        ("Japanese", ENGLISH, "The BBC said on", False, False),
        ("Japanese", ENGLISH, "月", False, True),
        ("Chinese", ENGLISH, "The", True, False),
        ("Chinese", ENGLISH, "2019 年", False, True),
        ("Chinese", ENGLISH, "2019", False, None),
        # Into English from Chinese: a Han character is the source's script.
        ("English", "威尔士语字母w的发音", "威尔", False, False),
        ("English", "威尔士语字母w的发音", "In this", False, True),
        # Between English and French: the first complete word.
        ("French", ENGLISH, "The", False, None),
        ("French", ENGLISH, "The ", False, False),
        ("French", ENGLISH, "La BBC", False, True),
        ("English", "Le président a dit que la France était prête.", "Le président", False, False),
        # A French result that opens with the source's own first words is the source echoed.
        ("French", "Elin Jones said the law was ready.", "Elin Jones ", False, None),
        ("French", "Elin Jones said the law was ready.", "Elin Jones said the ", False, False),
        ("French", "Elin Jones said the law was ready.", "Elin Jones a dit", False, True),
        # Not translating: only the script is checked.
        ("English", ENGLISH, "The", False, True),
        ("English", ENGLISH, "这是", False, False),
        ("Chinese", "今天天气很好。", "Today", True, False),
        ("the same language as the text", "12345", "anything", False, True),
        ("Japanese", ENGLISH, "", True, True),
    ],
)
def test_the_first_words_decide(
    expected: str, source: str, text: str, final: bool, verdict: bool | None
) -> None:
    assert StartCheck(expected, source).verdict(text, final) is verdict


SOURCE = "The Stars atoned for Friday's Elite League loss with a win over the Steelers at the weekend."
# A French start, then the English source copied on: past the check of the first words.
COPIED = "Les Stars ont atoned for Friday's Elite League loss with a win over the Steelers at the weekend."
FRENCH = "Les Stars ont effacé la défaite de vendredi en Elite League par une victoire sur les Steelers."


@pytest.mark.parametrize(
    ("expected", "source", "text", "whole"),
    [
        ("French", SOURCE, FRENCH, True),
        ("French", SOURCE, COPIED, False),
        ("French", SOURCE, SOURCE, False),
        # English titles and names in a French sentence are not a copy.
        ("French", SOURCE, "Le film « The Lord of the Rings » est sorti en 2001 et a été un succès.", True),
        ("French", SOURCE, "Les Stars of the League.", True),  # too few words to tell
        ("English", "Le président a dit que la France était prête pour les élections.", "Le président said "
         "that France was ready for the elections.", True),
        ("English", "Le président a dit que la France était prête pour les élections.", "Le président a dit "
         "que la France était prête pour les élections.", False),
        # Into a CJK language: mostly Latin words after a CJK start.
        ("Japanese", ENGLISH, "BBC は said on Monday that the talks had failed.", False),
        ("Japanese", ENGLISH, "President Joko Widodoは月曜日、協議が決裂したと伝えた。", True),
        ("English", "威尔士语字母w的发音", "In 威尔士语字母w的发音", False),
        # Not translating: never judged.
        ("English", ENGLISH, COPIED, True),
    ],
)  # fmt: skip
def test_the_whole_reply_decides_too(expected: str, source: str, text: str, whole: bool) -> None:
    assert StartCheck(expected, source).whole(text) is whole


def test_insist_says_it_in_the_language_itself() -> None:
    messages = TRANSLATE.prompt(ENGLISH, Args({"language": "ja_JP"}))
    steered = insist(messages, "Japanese")
    assert [m.role for m in steered] == [m.role for m in messages]
    assert steered[0].content == f"{messages[0].content}\n\n{INSIST['Japanese']}"
    assert steered[1:] == messages[1:]  # a line in the user message gets copied into the answer
    assert insist(messages, "the same language as the text") == messages


def test_insist_gives_a_request_without_a_system_prompt_one() -> None:
    # Into Chinese or English the request goes alone, under the chat template's own system prompt.
    messages = TRANSLATE.prompt(ENGLISH, Args({"language": "zh_CN"}))
    assert [m.role for m in messages] == ["user"]
    steered = insist(messages, "Chinese")
    assert steered == [Message("system", INSIST["Chinese"]), *messages]


SYSTEM = "You are a translator. Output only the translation."


@pytest.mark.parametrize(
    ("source", "language", "reply", "sent"),
    [
        # Into Chinese an English request naming the language in both (operations.py: asked in
        # Chinese, the 1.5B left clauses out).
        (
            ENGLISH,
            "zh_CN",
            "英国广播公司周一说谈判失败了。",
            [Message("user", f"Translate the following text into Chinese (中文):\n\n{ENGLISH}")],
        ),
        (
            "今天天气很好。",
            "en_US",
            "The weather is fine today.",
            [Message("user", "Translate the following text into English:\n\n今天天气很好。")],
        ),
        (
            ENGLISH,
            "ja_JP",
            JAPANESE,
            [
                Message("system", SYSTEM),
                Message("user", f"Translate the following text into Japanese (日本語):\n\n{ENGLISH}"),
            ],
        ),
        (
            ENGLISH,
            "fr_FR",
            "La BBC a dit lundi que les négociations avaient échoué.",
            [
                Message("system", SYSTEM),
                Message("user", f"Translate the following text into French (français):\n\n{ENGLISH}"),
            ],
        ),
    ],
)
async def test_each_direction_sends_its_one_line_request(
    source: str, language: str, reply: str, sent: list[Message]
) -> None:
    llm = ScriptedLLM(in_turn(reply))
    steps = await collect(await service(llm).start(TRANSLATE, source, Args({"language": language})))
    assert steps[-1].text == reply and steps[-1].restarts == 0
    assert llm.calls == [sent]


async def test_a_wrong_start_into_chinese_restarts_insisting_in_a_system_prompt() -> None:
    llm = ScriptedLLM(in_turn(ENGLISH, "英国广播公司 周一 说 谈判 失败 了。"))
    steps = await collect(await service(llm).start(TRANSLATE, ENGLISH, Args({"language": "zh_CN"})))
    assert steps[0].text.startswith("英国") and steps[-1].restarts == 1
    assert [m.role for m in llm.calls[0]] == ["user"]
    assert llm.calls[1] == [Message("system", INSIST["Chinese"]), *llm.calls[0]]
    assert {s.latin_penalty for s in llm.samplings} == {0.0, RESTART_PENALTY}


def service(llm: ScriptedLLM) -> DocumentService:
    return DocumentService(llm, Settings(cache_bytes=0))


def prompt_tokens(messages: list[Message]) -> int:
    return sum(len(pieces(m.content)) for m in messages)


async def test_a_wrong_start_is_restarted_before_anything_is_handed_out() -> None:
    llm = ScriptedLLM(in_turn(ENGLISH, JAPANESE))
    before = COUNTERS.language_restarts
    steps = await collect(await service(llm).start(TRANSLATE, ENGLISH, Args({"language": "ja_JP"})))
    assert steps[0].text == "BBC は"  # the very first step is Japanese already
    assert all(not s.text.startswith("The") for s in steps)
    assert steps[-1].text == JAPANESE and steps[-1].finish_reason == "stop"
    assert [s.restarts for s in steps] == [1] * len(steps)
    assert COUNTERS.language_restarts == before + 1
    # The English start was stopped at its fourth word, and the restart insisted on Japanese.
    assert llm.cancelled == 1 and len(llm.calls) == 2
    assert llm.calls[1][0].content.endswith(INSIST["Japanese"])
    # Usage counts both prompts and every token generated.
    assert steps[-1].input_tokens == prompt_tokens(llm.calls[0]) + prompt_tokens(llm.calls[1])
    assert steps[-1].output_tokens == 4 + len(pieces(JAPANESE))


async def test_a_right_start_goes_out_at_the_first_word() -> None:
    llm = ScriptedLLM(in_turn(JAPANESE))
    steps = await collect(await service(llm).start(TRANSLATE, ENGLISH, Args({"language": "ja_JP"})))
    assert steps[0].text == "BBC は" and steps[0].output_tokens == 2
    assert len(llm.calls) == 1 and steps[-1].restarts == 0


async def test_a_second_wrong_start_is_kept_not_restarted_forever() -> None:
    llm = ScriptedLLM(in_turn(ENGLISH, ENGLISH, JAPANESE))
    steps = await collect(await service(llm).start(TRANSLATE, ENGLISH, Args({"language": "ja_JP"})))
    assert steps[-1].text == ENGLISH and steps[-1].restarts == 1
    assert len(llm.calls) == 2


async def test_a_reply_too_short_to_decide_is_judged_whole() -> None:
    llm = ScriptedLLM(in_turn("Hello.", "こんにちは。"))
    steps = await collect(await service(llm).start(TRANSLATE, "Hello.", Args({"language": "ja_JP"})))
    assert [s.text for s in steps] == ["こんにちは。", "こんにちは。"]
    assert steps[-1].restarts == 1


async def test_every_piece_of_a_long_document_is_guarded() -> None:
    source = "\n\n".join(f"Paragraph {n} says that the weather was fine today." for n in range(6))
    llm = ScriptedLLM(in_turn(ENGLISH, "第 一 段。", "第 二 段。"), context_size=300)
    docs = DocumentService(llm, Settings(cache_bytes=0, max_output_tokens=40))
    steps = await collect(await docs.start(TRANSLATE, source, Args({"language": "zh_CN"})))
    final = steps[-1]
    assert final.chunks == 6 and final.restarts == 1
    assert "The BBC" not in final.text and final.text.startswith("第 一 段。")
    assert all(b.text.startswith(a.text) for a, b in itertools.pairwise(steps))


@pytest.mark.parametrize(
    ("operation", "text", "args", "penalty"),
    [
        (TRANSLATE, ENGLISH, {"language": "ja_JP"}, TRANSLATE.latin_penalty["Japanese"]),
        (TRANSLATE, ENGLISH, {"language": "zh_CN"}, 0.0),  # Chinese translations keep Latin names
        (TRANSLATE, ENGLISH, {"language": "fr_FR"}, 0.0),
        (TRANSLATE, "今天天气很好。", {"language": "en_US"}, 0.0),
        (
            OPERATIONS["doc/polish"],
            "今天天气很好。我们去公园散步。",
            {},
            0.0,
        ),  # Chinese may keep English words
    ],
)
async def test_translations_into_japanese_weigh_latin_words_down(
    operation: Operation, text: str, args: dict[str, str], penalty: float
) -> None:
    # A reply in the script asked for: no restart (which would weigh the other script down).
    llm = ScriptedLLM(in_turn(JAPANESE if is_cjk(operation.language(text, Args(args))) else ENGLISH))
    await collect(await service(llm).start(operation, text, Args(args)))
    assert TRANSLATE.latin_penalty["Japanese"] > 0
    assert {s.latin_penalty for s in llm.samplings} == {penalty}


@pytest.mark.parametrize(
    ("text", "language", "penalty"),
    [
        ("今天天气很好。", "en_US", TRANSLATE.cjk_penalty["English"]),
        ("今天天气很好。", "fr_FR", TRANSLATE.cjk_penalty["French"]),
        (ENGLISH, "zh_CN", 0.0),
        (ENGLISH, "ja_JP", 0.0),
    ],
)
async def test_translations_into_english_or_french_weigh_cjk_words_down(
    text: str, language: str, penalty: float
) -> None:
    replies = {"en_US": "The weather is fine today.", "fr_FR": "Il fait beau aujourd'hui."}
    llm = ScriptedLLM(in_turn(replies.get(language, JAPANESE)))
    await collect(await service(llm).start(TRANSLATE, text, Args({"language": language})))
    assert TRANSLATE.cjk_penalty["English"] > 0
    assert {s.cjk_penalty for s in llm.samplings} == {penalty}


def test_a_restart_weighs_the_other_script_down() -> None:
    assert steer(Sampling(), "Chinese").latin_penalty == RESTART_PENALTY
    assert steer(Sampling(latin_penalty=9.0), "Japanese").latin_penalty == 9.0  # never lighter
    assert steer(Sampling(), "English").cjk_penalty == RESTART_PENALTY
    assert steer(Sampling(), "French") == Sampling(cjk_penalty=RESTART_PENALTY)
    assert steer(Sampling(), "the same language as the text") == Sampling()


async def test_a_chinese_translation_restarted_weighs_latin_words_down() -> None:
    llm = ScriptedLLM(in_turn(ENGLISH, "英国广播公司说谈判失败了。"))
    steps = await collect(await service(llm).start(TRANSLATE, ENGLISH, Args({"language": "zh_CN"})))
    assert steps[-1].restarts == 1 and steps[-1].text == "英国广播公司说谈判失败了。"
    assert [s.latin_penalty for s in llm.samplings] == [0.0, RESTART_PENALTY]


async def test_a_restart_keeps_the_penalty() -> None:
    llm = ScriptedLLM(in_turn(ENGLISH, JAPANESE))
    await collect(await service(llm).start(TRANSLATE, ENGLISH, Args({"language": "ja_JP"})))
    penalty = TRANSLATE.latin_penalty["Japanese"]
    assert len(llm.samplings) == 2 and {s.latin_penalty for s in llm.samplings} == {penalty}


async def test_every_piece_of_a_long_japanese_translation_is_steered() -> None:
    source = "\n\n".join(f"Paragraph {n} says that the weather was fine today." for n in range(6))
    llm = ScriptedLLM(in_turn("第 一 段。"), context_size=300)
    docs = DocumentService(llm, Settings(cache_bytes=0, max_output_tokens=40))
    steps = await collect(await docs.start(TRANSLATE, source, Args({"language": "ja_JP"})))
    assert steps[-1].chunks == 6 and len(llm.samplings) == 6
    assert {s.latin_penalty for s in llm.samplings} == {TRANSLATE.latin_penalty["Japanese"]}


async def test_a_json_reply_mostly_in_the_source_language_is_restarted() -> None:
    llm = ScriptedLLM(in_turn(COPIED, FRENCH))
    before = COUNTERS.language_restarts
    generation = await service(llm).start(TRANSLATE, SOURCE, Args({"language": "fr_FR"}), streamed=False)
    result = await generation.result()
    assert result.text == FRENCH and result.restarts == 1 and result.finish_reason == "stop"
    assert COUNTERS.language_restarts == before + 1
    assert len(llm.calls) == 2 and llm.cancelled == 0  # the copy was generated to its end
    assert llm.calls[1][0].content.endswith(INSIST["French"])
    assert result.input_tokens == prompt_tokens(llm.calls[0]) + prompt_tokens(llm.calls[1])
    assert result.output_tokens == len(pieces(COPIED)) + len(pieces(FRENCH))


async def test_a_json_reply_is_restarted_once_only() -> None:
    llm = ScriptedLLM(in_turn(COPIED))
    generation = await service(llm).start(TRANSLATE, SOURCE, Args({"language": "fr_FR"}), streamed=False)
    result = await generation.result()
    assert result.text == COPIED and result.restarts == 1 and len(llm.calls) == 2


async def test_a_stream_keeps_what_it_showed() -> None:
    """An event stream cannot take back the words it sent: only its start is checked."""
    llm = ScriptedLLM(in_turn(COPIED, FRENCH))
    steps = await collect(await service(llm).start(TRANSLATE, SOURCE, Args({"language": "fr_FR"})))
    assert steps[-1].text == COPIED and steps[-1].restarts == 0 and len(llm.calls) == 1
    assert all(b.text.startswith(a.text) for a, b in itertools.pairwise(steps))


async def test_a_piece_of_a_long_json_document_mostly_in_english_is_retried() -> None:
    source = "\n\n".join(f"{SOURCE} Paragraph {n}." for n in range(4))
    llm = ScriptedLLM(in_turn(FRENCH, COPIED, FRENCH), context_size=300)
    docs = DocumentService(llm, Settings(cache_bytes=0, max_output_tokens=60))
    generation = await docs.start(TRANSLATE, source, Args({"language": "fr_FR"}), streamed=False)
    result = await generation.result()
    assert result.chunks == 4 and result.restarts == 1 and len(llm.calls) == 5
    assert "atoned" not in result.text and result.text.count(FRENCH) == 4


async def test_the_json_pipeline_judges_the_whole_reply() -> None:
    llm = ScriptedLLM(in_turn(COPIED, FRENCH))
    request = DocRequest(TRANSLATE, SOURCE, False, Args({"language": "fr_FR"}))
    outcome = await pipeline.run(service(llm), cast(ObjectStore, None), request, "bucket", "key", 1 << 20)
    assert outcome.result.text == FRENCH and outcome.result.restarts == 1
