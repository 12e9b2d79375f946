"""The OpenAI-compatible backend: against a real server (llama-cpp-python's, on 127.0.0.1), and
against scripted replies for what that server never sends (usage, errors, a cut stream)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.machinery
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llama_server import LlamaServer
from ossdoc.backends.llm import LLMError, Message, Sampling, create_backend
from ossdoc.backends.llm.openai import OpenAICompatible
from ossdoc.config import Settings
from ossdoc.models import resolve_model
from ossdoc_server import free_port

pytestmark = pytest.mark.anyio
MESSAGES = [Message("user", "Say hello.")]


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    model = resolve_model("smollm2-135m", tmp_path_factory.mktemp("models"))
    server = LlamaServer(model, free_port(), tmp_path_factory.mktemp("llama-server") / "log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wait_for(condition: Callable[[], bool], what: str, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


@pytest.mark.model
async def test_streams_text_and_usage(model_server: LlamaServer) -> None:
    backend = OpenAICompatible(model_server.base_url)
    try:
        chunks = [c async for c in backend.generate(MESSAGES, Sampling(max_tokens=12, temperature=0))]
        *deltas, last = chunks
        assert "".join(c.text for c in chunks).strip()
        assert [c.output_tokens for c in deltas] == list(range(1, len(deltas) + 1))
        assert (last.finish_reason, last.output_tokens) in {("stop", len(deltas)), ("length", 12)}
        # This server sends no usage: the prompt is counted by its tokenizer, from the first chunk.
        assert {c.input_tokens for c in chunks} == {await backend.count_tokens(MESSAGES[0].content)}
        assert await backend.count_tokens("hello world, how are you") >= 3
    finally:
        await backend.close()


@pytest.mark.model
async def test_closing_early_stops_the_server(model_server: LlamaServer) -> None:
    backend = OpenAICompatible(model_server.base_url)
    try:
        stream = backend.generate([Message("user", "Write a long story.")], Sampling(max_tokens=400))
        for _ in range(3):
            await stream.__anext__()
        await stream.aclose()  # type: ignore[attr-defined]
        # The server noticed the closed connection and stopped generating.
        wait_for(lambda: "Disconnected from client" in model_server.log.read_text(), "the disconnect", 30)
        chunks = [c async for c in backend.generate(MESSAGES, Sampling(max_tokens=3))]
        assert chunks[-1].finish_reason is not None
    finally:
        await backend.close()


@pytest.mark.model
async def test_http_error_status_is_an_llm_error(model_server: LlamaServer) -> None:
    backend = OpenAICompatible(model_server.base_url.removesuffix("/v1") + "/nowhere")
    with pytest.raises(LLMError, match="answered 404"):
        [c async for c in backend.generate(MESSAGES, Sampling(max_tokens=3))]
    await backend.close()


async def test_unreachable_server_is_an_llm_error() -> None:
    backend = OpenAICompatible(f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(LLMError, match="unreachable"):
        [c async for c in backend.generate(MESSAGES, Sampling(max_tokens=3))]
    with pytest.raises(LLMError, match="unreachable"):  # not an estimate: the request would fail
        await backend.count_tokens("x" * 30)
    await backend.close()


def scripted(events: list[str], seen: list[httpx.Request]) -> httpx.MockTransport:
    """A server that has no tokenizer and answers every completion with ``events``."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if not request.url.path.endswith("/chat/completions"):
            return httpx.Response(404)
        body = "".join(f"data: {e}\n\n" for e in events)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())

    return httpx.MockTransport(handle)


def delta(text: str, finish: str | None = None) -> str:
    return json.dumps({"choices": [{"delta": {"content": text}, "finish_reason": finish}]})


Row = tuple[str, int, int, str | None]


async def run(events: list[str], seen: list[httpx.Request] | None = None) -> list[Row]:
    requests: list[httpx.Request] = [] if seen is None else seen
    backend = OpenAICompatible("http://llm.test/v1", model="m", transport=scripted(events, requests))
    try:
        chunks = [c async for c in backend.generate(MESSAGES, Sampling(max_tokens=5, stop=("\n",), seed=3))]
    finally:
        await backend.close()
    return [(c.text, c.input_tokens, c.output_tokens, c.finish_reason) for c in chunks]


async def test_the_final_usage_replaces_the_counts() -> None:
    usage = json.dumps({"choices": [], "usage": {"prompt_tokens": 21, "completion_tokens": 4}})
    seen: list[httpx.Request] = []
    chunks = await run([delta("Hel"), delta("lo"), delta("", "length"), usage, "[DONE]"], seen)
    estimate = len(MESSAGES[0].content) // 3
    assert chunks == [("Hel", estimate, 1, None), ("lo", estimate, 2, None), ("", 21, 4, "length")]
    chat = [r for r in seen if r.url.path.endswith("/chat/completions")]
    body = json.loads(chat[-1].content)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert (body["model"], body["max_tokens"], body["stop"], body["seed"]) == ("m", 5, ["\n"], 3)


async def test_per_chunk_usage_is_not_counted_twice() -> None:
    def event(text: str, count: int, finish: str | None = None) -> str:
        usage = {"prompt_tokens": 9, "completion_tokens": count}
        return json.dumps(
            {"choices": [{"delta": {"content": text}, "finish_reason": finish}], "usage": usage}
        )

    events = [event("a", 1), event("b", 2, "stop"), "[DONE]"]
    assert await run(events) == [("a", 9, 1, None), ("b", 9, 2, None), ("", 9, 2, "stop")]


async def test_an_error_event_is_an_llm_error() -> None:
    with pytest.raises(LLMError, match="out of memory"):
        await run([delta("a"), json.dumps({"error": {"message": "out of memory"}})])


async def test_a_cut_stream_is_an_llm_error() -> None:
    with pytest.raises(LLMError, match="ended the stream"):
        await run([delta("a")])


async def test_tokenizer_endpoint_is_found_once() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/extras/tokenize":
            words = json.loads(request.content)["input"].split()
            return httpx.Response(200, json={"tokens": [1] * len(words)})
        return httpx.Response(404)

    backend = OpenAICompatible("http://llm.test/v1", transport=httpx.MockTransport(handle))
    assert await backend.count_tokens("one two three") == 3
    assert [r.url.path for r in seen] == ["/tokenize", "/tokenize", "/extras/tokenize"]
    assert await backend.count_tokens("four five") == 2
    assert len(seen) == 4
    await backend.close()


def test_create_backend_openai(tmp_path: Path) -> None:
    settings = Settings(llm="openai", openai_base_url="http://h:1/v1/", openai_model="x", context_size=999)
    backend = create_backend(settings, tmp_path)
    assert isinstance(backend, OpenAICompatible)
    assert (backend.info.name, backend.info.context_size) == ("x", 999)
    assert str(backend.client.base_url) == "http://h:1/v1/"


async def test_a_request_searches_for_no_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpcore imports sniffio as it sets up each request and falls back to asyncio without it, but
    Python does not remember a failed import: without sniffio every request to a model server
    searched sys.path again (encode/httpcore#1103). So sniffio is a dependency though ossdoc never
    imports it."""
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(reply)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/health"
    searched: list[str] = []
    real = importlib.machinery.PathFinder.find_spec

    def find_spec(cls: type, name: str, path: Any = None, target: Any = None) -> Any:
        searched.append(name)
        return real(name, path, target)

    try:
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).text == "ok"  # the pool and whatever it imports once
            monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", classmethod(find_spec))
            for _ in range(3):
                assert (await client.get(url)).text == "ok"
    finally:
        server.close()
    assert searched == []
