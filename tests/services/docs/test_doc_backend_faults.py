"""The document service over the OpenAI backend and a failing server (openai_stub, its own process):
a fault is ServiceUnavailable saying why, and the place in the queue and the model slot are given
back, however far the reply had come and whether the caller reads to the end or closes early."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterator

import pytest

from openai_stub import REPLY, StubProcess
from ossdoc import errors
from ossdoc.backends.llm.openai import OpenAICompatible
from ossdoc.config import Settings
from ossdoc.services.docs import OPERATIONS, Args, DocumentService
from ossdoc_server import free_port

pytestmark = pytest.mark.anyio
POLISH = OPERATIONS["doc/polish"]
SLOTS = 2


@pytest.fixture(scope="module")
def stub() -> Iterator[StubProcess]:
    process = StubProcess(free_port())
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def docs(stub: StubProcess) -> AsyncIterator[DocumentService]:
    stub.ensure_running()
    backend = OpenAICompatible(stub.base_url, stall_seconds=2, first_token_seconds=8)
    service = DocumentService(backend, Settings(queue_size=0, cache_bytes=0), slots=SLOTS)
    try:
        yield service
    finally:
        await backend.close()


def idle(docs: DocumentService) -> bool:
    """No place taken, every slot free."""
    return docs.admitted == 0 and not docs._slot.locked() and docs._slot._value == SLOTS


async def served(docs: DocumentService, stub: StubProcess) -> None:
    stub.ensure_running()
    result = await (await docs.start(POLISH, "hello", Args())).result()
    assert result.text == REPLY.strip()
    assert idle(docs)


@pytest.mark.parametrize("mode", ["die", "hang", "cut", "error-event", "status-500", "garbage", "stop"])
async def test_a_fault_frees_the_place_and_the_slot(
    docs: DocumentService, stub: StubProcess, mode: str
) -> None:
    if mode == "stop":
        stub.mode("slow", 0.05)
    else:
        stub.mode(mode)
    generation = await docs.start(POLISH, "hello", Args())
    assert docs.admitted == 1
    with pytest.raises(errors.ServiceUnavailable, match="The model backend is unavailable: the model server"):
        async for _ in generation:
            if mode == "stop":
                stub.signal(signal.SIGSTOP)
    await generation.aclose()
    assert idle(docs)
    await served(docs, stub)


async def test_closing_a_failing_generation_early(docs: DocumentService, stub: StubProcess) -> None:
    stub.mode("hang")
    generation = await docs.start(POLISH, "hello", Args())
    assert (await anext(generation)).text.startswith("Hello")
    await generation.aclose()  # the client left while the server hung
    assert idle(docs)
    await served(docs, stub)


async def test_a_server_that_is_down_is_refused_before_admission(
    docs: DocumentService, stub: StubProcess
) -> None:
    stub.stop()
    with pytest.raises(errors.ServiceUnavailable, match="unreachable"):
        await docs.start(POLISH, "hello", Args())
    assert idle(docs)
    await served(docs, stub)
