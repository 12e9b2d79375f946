"""The OpenAI-compatible backend against a misbehaving server in a process of its own (openai_stub):
every fault is an LLMError that says what went wrong, and the next request on the same backend is
served. The stub's pauses are tiny; the backend's patience is set to seconds to keep tests short."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterator

import pytest

from openai_stub import REPLY, StubProcess
from ossdoc.backends.llm import Chunk, LLMError, Message, Sampling
from ossdoc.backends.llm.openai import OpenAICompatible
from ossdoc_server import free_port

pytestmark = pytest.mark.anyio
MESSAGES = [Message("user", "Say hello.")]
STALL = 2.0


@pytest.fixture(scope="module")
def stub() -> Iterator[StubProcess]:
    process = StubProcess(free_port())
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def backend(stub: StubProcess) -> AsyncIterator[OpenAICompatible]:
    stub.ensure_running()
    llm = OpenAICompatible(stub.base_url, stall_seconds=STALL, first_token_seconds=4 * STALL)
    try:
        yield llm
    finally:
        await llm.close()


async def generate(backend: OpenAICompatible) -> list[Chunk]:
    return [c async for c in backend.generate(MESSAGES, Sampling(max_tokens=50))]


async def served(backend: OpenAICompatible, stub: StubProcess) -> None:
    """The next request after a fault gets the whole reply."""
    stub.ensure_running()
    chunks = await generate(backend)
    assert "".join(c.text for c in chunks) == REPLY.rstrip()
    assert chunks[-1].finish_reason == "stop"


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("truncate", "ended the stream before the end of the reply"),
        ("cut", "closed the connection in the middle of a reply"),
        ("die", "closed the connection in the middle of a reply"),
        ("bad-json", "sent an event that is not JSON: '{\"choices\": \\['"),
        ("non-dict", "sent an event that is not an object: '\\[1, 2, 3\\]'"),
        ("bad-delta", "sent a malformed event \\(content is int\\)"),
        ("error-event", "the model server failed: 'CUDA out of memory'"),
        ("status-500", "answered 500: .*the model crashed"),
        ("html", "answered text/html, not an event stream: <html>"),
        ("garbage", "sent bytes that are not UTF-8"),
        ("long-line", "sent a line longer than 1048576 bytes"),
        ("hang", "sent no token for 2 s \\(it hangs\\)"),
    ],
)
async def test_a_fault_is_an_llm_error_and_the_next_request_is_served(
    backend: OpenAICompatible, stub: StubProcess, mode: str, message: str
) -> None:
    stub.mode(mode)
    received: list[Chunk] = []
    with pytest.raises(LLMError, match=message):
        async for chunk in backend.generate(MESSAGES, Sampling(max_tokens=50)):
            received.append(chunk)
    if mode not in ("status-500", "html", "garbage", "long-line"):
        assert "".join(c.text for c in received).startswith("Hello")  # it failed in the middle
    await served(backend, stub)


async def test_a_server_that_is_down(backend: OpenAICompatible, stub: StubProcess) -> None:
    stub.stop()
    with pytest.raises(LLMError, match=f"the model server at {stub.base_url} is unreachable"):
        await generate(backend)
    with pytest.raises(LLMError, match="unreachable"):
        await backend.count_tokens("hello")
    await served(backend, stub)


async def test_a_server_stopped_mid_stream(backend: OpenAICompatible, stub: StubProcess) -> None:
    stub.mode("slow", 0.05)
    stream = backend.generate(MESSAGES, Sampling(max_tokens=50))
    try:
        assert (await anext(stream)).text == "Hello"
        stub.signal(signal.SIGSTOP)
        with pytest.raises(LLMError, match="sent no token for 2 s"):
            async for _ in stream:
                pass
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    await served(backend, stub)


async def test_a_server_stopped_before_the_first_token(backend: OpenAICompatible, stub: StubProcess) -> None:
    stub.signal(signal.SIGSTOP)  # the kernel still accepts the connection: only silence tells
    with pytest.raises(LLMError, match="sent nothing for 2 s and does not answer a health check"):
        await generate(backend)
    await served(backend, stub)


async def test_a_long_prompt_is_waited_for_while_the_server_answers(
    backend: OpenAICompatible, stub: StubProcess
) -> None:
    stub.mode("prompt", 2.5 * STALL)  # silent for longer than the stall timeout, alive
    before = stub.stats()["health_checks"]
    chunks = await generate(backend)
    assert "".join(c.text for c in chunks) == REPLY.rstrip()
    assert stub.stats()["health_checks"] > before  # it was asked, and answered


async def test_keep_alive_comments_are_signs_of_life(backend: OpenAICompatible, stub: StubProcess) -> None:
    stub.mode("pings", 2.5 * STALL)  # llama-cpp-python's server pings while it evaluates the prompt
    before = stub.stats()["health_checks"]
    chunks = await generate(backend)
    assert "".join(c.text for c in chunks) == REPLY.rstrip()
    assert stub.stats()["health_checks"] == before  # the pings were enough


async def test_a_request_stuck_in_a_live_server_has_a_limit(
    backend: OpenAICompatible, stub: StubProcess
) -> None:
    stub.mode("stuck")
    with pytest.raises(LLMError, match="sent no token in 8 s"):
        await generate(backend)
    await served(backend, stub)
