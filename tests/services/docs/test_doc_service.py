from __future__ import annotations

import asyncio

import pytest

from ossdoc import errors
from ossdoc.config import Settings
from ossdoc.services.docs import OPERATIONS, Args, DocumentService
from tiny_llm import TinyLLM, collect

pytestmark = pytest.mark.anyio
POLISH = OPERATIONS["doc/polish"]


def service(llm: TinyLLM, **settings: int) -> DocumentService:
    return DocumentService(llm, Settings(**settings))  # type: ignore[arg-type]


async def test_progress_is_cumulative_and_ends_with_stop() -> None:
    llm = TinyLLM("Hello big world.")
    steps = await collect(await service(llm).start(POLISH, "hello  world", Args()))
    assert [s.text for s in steps] == ["Hello", "Hello big", "Hello big world.", "Hello big world."]
    assert [s.finish_reason for s in steps] == [None, None, None, "stop"]
    assert [s.output_tokens for s in steps] == [1, 2, 3, 3]
    assert all(s.input_tokens == steps[0].input_tokens > 0 for s in steps)


async def test_output_is_cleaned() -> None:
    llm = TinyLLM('Here is the polished text:\n\n"Hello world."')
    steps = await collect(await service(llm).start(POLISH, "hello world", Args()))
    assert steps[-1].text == "Hello world."
    assert all(steps[-1].text.startswith(s.text) for s in steps)


async def test_max_tokens_fits_the_context() -> None:
    llm = TinyLLM(context_size=300)
    await collect(await service(llm, max_output_tokens=2048).start(POLISH, "word " * 50, Args()))
    sampling = llm.samplings[0]
    assert 64 <= sampling.max_tokens < 300
    assert sampling.temperature == POLISH.sampling.temperature


async def test_a_translation_is_given_four_times_its_source_at_most() -> None:
    # A small model decoding greedily may loop: its reply is cut where no translation reaches.
    translate = OPERATIONS["doc/translate"]
    short, long = "word " * 10, "word " * 100
    for text in (short, long):
        llm = TinyLLM()
        docs = service(llm, max_output_tokens=2048)
        await collect(await docs.start(translate, text, Args({"language": "fr_FR"})))
        source = await llm.count_tokens(text)
        assert llm.samplings[0].max_tokens == max(64, int(source * 4.0))


async def test_a_context_too_small_for_the_prompt_itself() -> None:
    with pytest.raises(errors.InvalidArgument, match="prompt alone"):
        await service(TinyLLM(context_size=100)).start(POLISH, "word " * 200, Args())


async def test_a_full_queue_answers_slow_down_with_retry_after() -> None:
    docs = service(TinyLLM(delay=0.01), queue_size=1)
    first = await docs.start(POLISH, "a", Args())  # will run
    second = await docs.start(POLISH, "b", Args())  # will wait
    with pytest.raises(errors.SlowDown) as info:
        await docs.start(POLISH, "c", Args())
    assert info.value.status == 503
    assert int(info.value.headers["Retry-After"]) >= 1
    await first.aclose()  # closing frees the place, even before iterating
    third = await docs.start(POLISH, "c", Args())
    for generation in (second, third):
        assert (await collect(generation))[-1].finish_reason == "stop"


async def test_one_generation_at_a_time_the_others_wait() -> None:
    llm = TinyLLM(delay=0.005)
    docs = service(llm, queue_size=4)
    seen: list[int] = []

    async def run(text: str) -> str:
        generation = await docs.start(POLISH, text, Args())
        async for _ in generation:
            seen.append(llm.running)
        await generation.aclose()
        return text

    assert await asyncio.gather(*(run(t) for t in "abcd")) == list("abcd")
    assert max(seen) == 1
    assert llm.finished == 4


async def test_closing_cancels_the_model_stream_and_frees_the_slot() -> None:
    llm = TinyLLM(" ".join(f"word{n}" for n in range(1000)), delay=0.001)  # no loop to stop
    docs = service(llm, queue_size=0)
    generation = await docs.start(POLISH, "a", Args())
    await generation.__anext__()
    await generation.__anext__()
    await generation.aclose()
    assert llm.cancelled == 1 and llm.running == 0
    # The single place is free again.
    assert (await collect(await docs.start(POLISH, "b", Args())))[-1].finish_reason == "stop"


async def test_backend_failure_is_internal_error() -> None:
    docs = service(TinyLLM(fail_after=2))
    with pytest.raises(errors.InternalError):
        await collect(await docs.start(POLISH, "a", Args()))
    # and the place is given back
    assert docs.admitted == 0
