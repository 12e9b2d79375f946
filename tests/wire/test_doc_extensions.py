"""ossdoc's fields beside the seed's, on exact bytes: ``Usage.Restarts`` (the language guard) and
``Truncated`` (a reply cut at the output limit), in events and in the JSON reply."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import pytest

from ossdoc.backends.llm.base import Message
from ossdoc.backends.llm.fake import ScriptedLLM, in_turn, pieces
from ossdoc.config import Settings
from ossdoc.services.docs import OPERATIONS, Args, DocumentService, Generation, Progress
from ossdoc.services.docs.metrics import COUNTERS
from ossdoc.wire import sse

pytestmark = pytest.mark.anyio
ENGLISH = "The BBC said on Monday that the talks had failed."
JAPANESE = "BBC は 協議が 決裂したと 伝えた。"


def tokens(calls: list[list[Message]]) -> int:
    return sum(len(pieces(m.content)) for messages in calls for m in messages)


async def frames(docs: DocumentService, text: str, args: Args, op: str = "doc/translate") -> list[bytes]:
    generation = await docs.start(OPERATIONS[op], text, args)
    stream = sse.EventStream(cast(Generation, generation), "REQ1", min_interval=0)
    events: AsyncIterator[bytes] = aiter(stream)
    return [frame async for frame in events]


async def test_sse_restarted_in_the_right_language_before_the_first_event() -> None:
    llm = ScriptedLLM(in_turn(ENGLISH, JAPANESE), token_delay=0.01)
    docs = DocumentService(llm, Settings(cache_bytes=0))
    sent = await frames(docs, ENGLISH, Args({"language": "ja_JP"}))
    prompt = tokens(llm.calls)
    # The English start took four tokens before the guard stopped it; they count, as the prompts do.
    assert (
        sent[0]
        == (
            'id: 0\nevent: message\ndata: {"RequestId":"","Output":{"Text":"BBC は","FinishReason":"null"},'
            f'"Usage":{{"InputTokens":{prompt},"OutputTokens":6,"Restarts":1}}}}\n\n'
        ).encode()
    )
    assert (
        sent[-1]
        == (
            f'id: {len(sent) - 1}\nevent: Result\ndata: {{"RequestId":"","Output":{{"Text":"{JAPANESE}",'
            f'"FinishReason":"stop"}},"Usage":{{"InputTokens":{prompt},"OutputTokens":9,"Restarts":1}}}}\n\n'
        ).encode()
    )


async def test_json_restarted_in_the_right_language() -> None:
    llm = ScriptedLLM(in_turn(ENGLISH, JAPANESE))
    docs = DocumentService(llm, Settings(cache_bytes=0))
    generation = await docs.start(OPERATIONS["doc/translate"], ENGLISH, Args({"language": "ja_JP"}))
    result = await generation.result()
    assert sse.dumps(sse.payload(result, "ID1", id_key="RequestID")) == (
        f'{{"RequestID":"ID1","Output":{{"Text":"{JAPANESE}","FinishReason":"stop"}},'
        f'"Usage":{{"InputTokens":{tokens(llm.calls)},"OutputTokens":9,"Restarts":1}}}}'
    )


async def test_a_reply_cut_at_the_output_limit_says_so() -> None:
    llm = ScriptedLLM(lambda messages: " ".join(f"word{n}" for n in range(100)))  # no loop
    docs = DocumentService(llm, Settings(cache_bytes=0, max_output_tokens=64))
    before = COUNTERS.truncated
    sent = await frames(docs, "a few words to polish", Args(), op="doc/polish")
    prompt = tokens(llm.calls)
    text = " ".join(f"word{n}" for n in range(64))
    assert (
        sent[-1]
        == (
            f'id: {len(sent) - 1}\nevent: Result\ndata: {{"RequestId":"","Output":{{"Text":"{text}",'
            f'"FinishReason":"stop"}},"Usage":{{"InputTokens":{prompt},"OutputTokens":64}},"Truncated":true}}\n\n'
        ).encode()
    )
    assert all(b'"Truncated"' not in frame for frame in sent[:-1])
    assert COUNTERS.truncated == before + 1


async def test_a_complete_reply_has_only_the_seed_fields() -> None:
    docs = DocumentService(ScriptedLLM(lambda messages: "Fine words."), Settings(cache_bytes=0))
    result = await (await docs.start(OPERATIONS["doc/polish"], "fine word", Args())).result()
    assert list(sse.payload(result, "ID1", id_key="RequestID")) == ["RequestID", "Output", "Usage"]
    assert list(sse.payload(result, "ID1")["Usage"]) == ["InputTokens", "OutputTokens"]


def test_truncated_only_in_the_final_step() -> None:
    assert "Truncated" not in sse.payload(Progress("a", None, 1, 1), "")
    assert sse.payload(Progress("a", "length", 1, 1), "")["Truncated"] is True
    assert sse.payload(Progress("a", "length", 1, 1), "")["Output"]["FinishReason"] == "stop"
