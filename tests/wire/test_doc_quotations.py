"""A reply's opening quotation mark, on exact bytes, in events and in the JSON reply: a reply that
is one quotation loses its marks, one that only opens with a quoted phrase keeps them (the
public cases tr-zhen-05 and tr-enzh-05 lost the opening mark and kept the closing one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import pytest

from ossdoc.backends.llm.base import Message
from ossdoc.backends.llm.fake import ScriptedLLM, pieces
from ossdoc.config import Settings
from ossdoc.services.docs import OPERATIONS, Args, DocumentService, Generation
from ossdoc.wire import sse

pytestmark = pytest.mark.anyio
TRANSLATE = OPERATIONS["doc/translate"]
CHINESE = "“参加欧洲议会选举是谴责民主价值倒退以及西班牙政府镇压的最佳方式，”他说。"
ENGLISH = "The Metropolitan Police said officers were working to identify the man and inform his next-of-kin."
QUOTED = '"Standing in the European elections is the best way to denounce the repression," he said.'
WRAPPED = '"Standing in the European elections is the best way to denounce the repression."'
QUOTED_ZH = "“伦敦警察厅” 表示， 警察 正在 核实 该名 男子 身份。"
WRAPPED_ZH = "伦敦警察厅 表示， 警察 正在 核实 该名 男子 身份。"


def tokens(calls: list[list[Message]]) -> int:
    return sum(len(pieces(m.content)) for messages in calls for m in messages)


def event(event_id: int, name: str, text: str, prompt: int, out: int) -> bytes:
    finish = "stop" if name == "Result" else "null"
    return (
        f'id: {event_id}\nevent: {name}\ndata: {{"RequestId":"","Output":{{"Text":{sse.dumps(text)},'
        f'"FinishReason":"{finish}"}},"Usage":{{"InputTokens":{prompt},"OutputTokens":{out}}}}}\n\n'
    ).encode()


async def frames(reply: str, source: str, language: str) -> tuple[list[bytes], int]:
    llm = ScriptedLLM(lambda messages: reply, token_delay=0.01)
    docs = DocumentService(llm, Settings(cache_bytes=0))
    generation = await docs.start(TRANSLATE, source, Args({"language": language}))
    events: AsyncIterator[bytes] = aiter(
        sse.EventStream(cast(Generation, generation), "REQ1", min_interval=0)
    )
    return [frame async for frame in events], tokens(llm.calls)


async def json_body(reply: str, source: str, language: str) -> tuple[str, int]:
    llm = ScriptedLLM(lambda messages: reply)
    docs = DocumentService(llm, Settings(cache_bytes=0))
    generation = await docs.start(TRANSLATE, source, Args({"language": language}), streamed=False)
    result = await generation.result()
    return sse.dumps(sse.payload(result, "ID1", id_key="RequestID")), tokens(llm.calls)


def json_reply(text: str, prompt: int, out: int) -> str:
    return (
        f'{{"RequestID":"ID1","Output":{{"Text":{sse.dumps(text)},"FinishReason":"stop"}},'
        f'"Usage":{{"InputTokens":{prompt},"OutputTokens":{out}}}}}'
    )


async def test_sse_a_reply_opening_with_a_quotation_keeps_its_mark() -> None:
    sent, prompt = await frames(QUOTED, CHINESE, "en_US")
    # Held back until the quotation closed with words after it ("he"), then never without its mark.
    assert sent[0] == event(0, "message", QUOTED.removesuffix(" said."), prompt, 14)
    assert sent[-1] == event(len(sent) - 1, "Result", QUOTED, prompt, 15)
    assert all(frame.count(b'"Text":"\\"Standing') == 1 for frame in sent)


async def test_sse_a_reply_that_is_one_quotation_loses_its_marks() -> None:
    # Nothing could go out before its end: the mark it opens with is not the result's.
    sent, prompt = await frames(WRAPPED, CHINESE, "en_US")
    assert sent == [event(0, "Result", WRAPPED[1:-1], prompt, 13)]


async def test_sse_a_chinese_reply_opening_with_a_quoted_name_keeps_its_mark() -> None:
    sent, prompt = await frames(QUOTED_ZH, ENGLISH, "zh_CN")
    assert sent[0] == event(0, "message", "“伦敦警察厅” 表示，", prompt, 2)
    assert sent[-1] == event(len(sent) - 1, "Result", QUOTED_ZH, prompt, 8)
    assert all("“伦敦警察厅”".encode() in frame for frame in sent)


@pytest.mark.parametrize(
    ("reply", "source", "language", "text", "out"),
    [
        (QUOTED, CHINESE, "en_US", QUOTED, 15),
        (WRAPPED, CHINESE, "en_US", WRAPPED[1:-1], 13),
        (QUOTED_ZH, ENGLISH, "zh_CN", QUOTED_ZH, 8),
        (f"“{WRAPPED_ZH}”", ENGLISH, "zh_CN", WRAPPED_ZH, 8),
    ],
)
async def test_json_the_same_marks(reply: str, source: str, language: str, text: str, out: int) -> None:
    body, prompt = await json_body(reply, source, language)
    assert body == json_reply(text, prompt, out)
