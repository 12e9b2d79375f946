from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from ossdoc import errors
from ossdoc.config import Settings
from ossdoc.services.docs import OPERATIONS, Args, DocumentService, Generation, Progress
from ossdoc.wire import sse
from tiny_llm import TinyLLM

pytestmark = pytest.mark.anyio

# The first event of Alibaba's sample, verbatim.
SEED_EVENT = (
    b'id: 0\nevent: message\ndata: {"RequestId":"","Output":{"Text":"A Ghost,","FinishReason":"null"},'
    b'"Usage":{"InputTokens":320,"OutputTokens":3}}\n\n'
)


class Gated:
    """A Generation whose steps the test hands out one by one."""

    def __init__(self) -> None:
        self.steps: asyncio.Queue[Progress | Exception] = asyncio.Queue()
        self.closed = False

    def __aiter__(self) -> Gated:
        return self

    async def __anext__(self) -> Progress:
        step = await self.steps.get()
        if isinstance(step, Exception):
            raise step
        return step

    async def aclose(self) -> None:
        self.closed = True


def stream(generation: Any, **timing: float) -> AsyncIterator[bytes]:
    return aiter(sse.EventStream(cast(Generation, generation), "REQ1", **timing))


def step(text: str, out: int, finish: str | None = None) -> Progress:
    return Progress(text, finish, 320, out)


def parse(frame: bytes) -> tuple[str, str, dict[str, Any]]:
    lines = frame.decode().split("\n")
    assert lines[-2:] == ["", ""] and len(lines) == 5
    assert lines[0].startswith("id: ") and lines[1].startswith("event: ") and lines[2].startswith("data: ")
    return lines[0][4:], lines[1][7:], json.loads(lines[2][6:])


def test_frame_matches_the_seed_byte_for_byte() -> None:
    assert sse.frame(0, "message", sse.payload(step("A Ghost,", 3), "")) == SEED_EVENT


def test_payload_key_order_and_unicode() -> None:
    body = sse.dumps(sse.payload(step("四大名著", 5, "stop"), "ID1", id_key="RequestID"))
    assert body == (
        '{"RequestID":"ID1","Output":{"Text":"四大名著","FinishReason":"stop"},'
        '"Usage":{"InputTokens":320,"OutputTokens":5}}'
    )


async def test_events_in_order_then_result() -> None:
    gated = Gated()
    frames = stream(gated, min_interval=0)
    gated.steps.put_nowait(step("A Ghost,", 3))
    assert await anext(frames) == SEED_EVENT
    gated.steps.put_nowait(step("A Ghost, the Communist Ghost", 7))
    assert await anext(frames) == (
        b'id: 1\nevent: message\ndata: {"RequestId":"","Output":{"Text":"A Ghost, the Communist Ghost",'
        b'"FinishReason":"null"},"Usage":{"InputTokens":320,"OutputTokens":7}}\n\n'
    )
    gated.steps.put_nowait(step("A Ghost, the Communist Ghost.", 8, "stop"))
    assert await anext(frames) == (
        b'id: 2\nevent: Result\ndata: {"RequestId":"","Output":{"Text":"A Ghost, the Communist Ghost.",'
        b'"FinishReason":"stop"},"Usage":{"InputTokens":320,"OutputTokens":8}}\n\n'
    )
    with pytest.raises(StopAsyncIteration):
        await anext(frames)
    assert gated.closed


async def test_events_are_coalesced_but_the_result_always_goes() -> None:
    gated = Gated()
    frames = stream(gated, min_interval=3600)
    gated.steps.put_nowait(step("A", 1))
    assert parse(await anext(frames))[2]["Output"]["Text"] == "A"  # the first goes at once
    for n, text in enumerate(["A b", "A b c", "A b c d"], 2):
        gated.steps.put_nowait(step(text, n))
    gated.steps.put_nowait(step("A b c d.", 5, "stop"))
    event_id, event, data = parse(await anext(frames))
    assert (event_id, event, data["Output"]["Text"]) == ("1", "Result", "A b c d.")


async def test_pings_while_nothing_happens() -> None:
    gated = Gated()
    frames = stream(gated, ping_interval=0.01)
    assert await anext(frames) == b": ping\n\n"
    assert await anext(frames) == b": ping\n\n"
    gated.steps.put_nowait(step("Hi.", 1, "stop"))
    assert parse(await anext(frames))[:2] == ("0", "Result")
    await frames.aclose()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("failure", "code"),
    [(errors.ServiceUnavailable("busy"), "ServiceUnavailable"), (RuntimeError("boom"), "InternalError")],
)
async def test_a_failure_after_the_start_ends_with_an_error_event(failure: Exception, code: str) -> None:
    gated = Gated()
    frames = stream(gated, min_interval=0)
    gated.steps.put_nowait(step("A", 1))
    await anext(frames)
    gated.steps.put_nowait(failure)
    event_id, event, data = parse(await anext(frames))
    assert (event_id, event) == ("1", "error")
    assert list(data) == ["RequestId", "Code", "Message"]
    assert data["RequestId"] == "REQ1" and data["Code"] == code
    with pytest.raises(StopAsyncIteration):
        await anext(frames)


async def test_closing_the_stream_cancels_the_generation() -> None:
    llm = TinyLLM(" ".join(f"word{n}" for n in range(10_000)), delay=0.001)  # long, no loop
    docs = DocumentService(llm, Settings(queue_size=0))
    generation = await docs.start(OPERATIONS["doc/polish"], "a", Args())
    frames = stream(generation, min_interval=0)
    await anext(frames)
    await anext(frames)
    await frames.aclose()  # type: ignore[attr-defined]  # what Starlette's cancellation amounts to
    assert llm.cancelled == 1 and llm.running == 0
    await (await docs.start(OPERATIONS["doc/polish"], "b", Args())).aclose()  # the place is free


async def test_a_real_generation_streams_prefixes() -> None:
    llm = TinyLLM("One two three four five six.", delay=0.002)
    docs = DocumentService(llm, Settings())
    frames = [
        f async for f in stream(await docs.start(OPERATIONS["doc/polish"], "x", Args()), min_interval=0)
    ]
    events = [parse(f) for f in frames]
    assert [e[0] for e in events] == [str(n) for n in range(len(events))]
    assert [e[1] for e in events] == ["message"] * (len(events) - 1) + ["Result"]
    texts = [e[2]["Output"]["Text"] for e in events]
    assert all(b.startswith(a) for a, b in itertools.pairwise(texts))
    assert texts[-1] == "One two three four five six."


async def run_response(response: sse.EventStreamResponse, disconnect_after: int) -> list[bytes]:
    """Serve ``response`` like uvicorn (ASGI 2.3); the client leaves after ``disconnect_after`` chunks."""
    bodies: list[bytes] = []
    gone = asyncio.Event()
    if disconnect_after == 0:
        gone.set()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message["body"]:
            bodies.append(message["body"])
            if len(bodies) >= disconnect_after:
                gone.set()

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "method": "POST"}
    await asyncio.wait_for(response(scope, receive, send), 10)  # type: ignore[arg-type]
    return bodies


@pytest.mark.parametrize("disconnect_after", [0, 2])
async def test_a_client_disconnect_stops_the_model(disconnect_after: int) -> None:
    llm = TinyLLM(" ".join(f"word{n}" for n in range(10_000)), delay=0.001)  # long, no loop
    docs = DocumentService(llm, Settings(queue_size=0))
    generation = await docs.start(OPERATIONS["doc/polish"], "a", Args())
    response = sse.EventStreamResponse(sse.EventStream(generation, "R", min_interval=0))
    assert response.headers["content-type"] == "text/event-stream;charset=UTF-8"
    bodies = await run_response(response, disconnect_after)
    assert len(bodies) <= max(disconnect_after, 1) + 1
    assert llm.running == 0 and llm.finished == 0
    if disconnect_after:  # (with 0 the model may not even have started)
        assert llm.cancelled == 1
    await (await docs.start(OPERATIONS["doc/polish"], "b", Args())).aclose()  # the place is free
