"""The model service's OpenAI-compatible app, in process on a scripted model, through the same
client the workers use: usage in every chunk, counts, prefills, bad requests, the API key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from ossdoc.backends.llm import Message, ScriptedLLM
from ossdoc.backends.llm.base import ModelInfo, Sampling
from ossdoc.backends.llm.openai import OpenAICompatible
from ossdoc.runtime.model_service import create_model_app

pytestmark = pytest.mark.anyio
INFO = ModelInfo("scripted", 8192, {"version": "1"})


@pytest.fixture
async def served() -> AsyncIterator[tuple[ScriptedLLM, OpenAICompatible]]:
    llm = ScriptedLLM(lambda messages: "one two three four")
    transport = httpx.ASGITransport(app=create_model_app(llm))
    client = OpenAICompatible("http://model/v1", transport=transport, info=INFO)
    yield llm, client
    await client.close()


async def test_a_generation_streams_with_exact_counts_at_every_step(
    served: tuple[ScriptedLLM, OpenAICompatible],
) -> None:
    _llm, client = served
    chunks = [c async for c in client.generate([Message("user", "hi there")], Sampling(max_tokens=10))]
    assert "".join(c.text for c in chunks) == "one two three four"
    assert [c.output_tokens for c in chunks] == [1, 2, 3, 4, 4]
    assert {c.input_tokens for c in chunks} == {2}  # the model's own count, from the first chunk
    assert chunks[-1].finish_reason == "stop"
    assert await client.count_tokens("a b c") == 3
    assert client.info == INFO


async def test_the_sampling_reaches_the_model(served: tuple[ScriptedLLM, OpenAICompatible]) -> None:
    llm, client = served
    sampling = Sampling(
        max_tokens=7,
        temperature=0.4,
        top_p=0.8,
        repeat_penalty=1.2,
        seed=9,
        latin_penalty=4.0,
        cjk_penalty=6.0,
    )
    assert [c async for c in client.generate([Message("user", "hi")], sampling)]
    assert llm.samplings[-1] == sampling


async def test_a_prefill_is_continued(served: tuple[ScriptedLLM, OpenAICompatible]) -> None:
    llm, client = served
    messages = [Message("user", "hi"), Message("assistant", "one two ")]
    text = "".join([c.text async for c in client.generate(messages, Sampling())])
    assert text == "three four"
    assert llm.calls[-1][-1] == Message("assistant", "one two ")


async def test_bad_requests_are_400_and_a_key_is_required_when_set() -> None:
    app = create_model_app(ScriptedLLM(), api_key="sesame")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://model") as http:
        one = {"messages": [{"role": "user", "content": "x"}]}
        refused = await http.post("/v1/chat/completions", json=one)
        assert refused.status_code == 401
        key = {"Authorization": "Bearer sesame"}
        for body in (b"not json", b"[]", json.dumps({"messages": []}).encode()):
            reply = await http.post("/v1/chat/completions", content=body, headers=key)
            assert reply.status_code == 400 and reply.json()["error"]["message"]
        models = await http.get("/v1/models", headers=key)
        assert models.json()["data"][0]["meta"]["n_ctx"] == 8192
        whole = await http.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}, headers=key
        )
        assert whole.json()["choices"][0]["message"]["content"] == "HI"
