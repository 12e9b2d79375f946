"""LocalLlama on SmolLM2-135M (98 MB): streaming, exact usage, stop strings, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from ossdoc.backends.llm import Chunk, LLMError, Message, Sampling, create_backend, local, step_costs
from ossdoc.backends.llm.local import LocalLlama, StopText
from ossdoc.config import Settings
from ossdoc.models import resolve_model

pytestmark = pytest.mark.anyio
model = pytest.mark.model
STORY = [
    Message("system", "You are a helpful assistant."),
    Message("user", "Write a long story about a cat."),
]


def stopped(worker: Future[None] | None) -> bool:
    assert worker is not None
    worker.result(timeout=10)
    return worker.done()


async def collect(stream: AsyncIterator[Chunk]) -> list[Chunk]:
    return [c async for c in stream]


@model
async def test_streams_with_exact_usage(llama: LocalLlama) -> None:
    chunks = await collect(llama.generate(STORY, Sampling(max_tokens=16, temperature=0)))
    *tokens, last = chunks
    assert [c.output_tokens for c in tokens] == list(range(1, len(tokens) + 1))
    assert all(c.finish_reason is None for c in tokens)
    assert {c.input_tokens for c in chunks} == {len(llama.prompt_tokens(STORY))}
    assert (last.output_tokens, last.finish_reason) == (16, "length")  # a long story: not done in 16
    text = "".join(c.text for c in chunks)
    assert text.strip()
    assert await llama.count_tokens(text) in range(14, 19)  # re-tokenizing may merge or split a few
    assert await llama.count_tokens("") == 0


@model
async def test_greedy_is_deterministic_and_seeded_sampling_repeats(llama: LocalLlama) -> None:
    greedy = Sampling(max_tokens=12, temperature=0)
    first = "".join(c.text for c in await collect(llama.generate(STORY, greedy)))
    assert "".join(c.text for c in await collect(llama.generate(STORY, greedy))) == first
    seeded = Sampling(max_tokens=12, temperature=1.0, seed=7)
    one = "".join(c.text for c in await collect(llama.generate(STORY, seeded)))
    assert "".join(c.text for c in await collect(llama.generate(STORY, seeded))) == one


@model
async def test_end_of_text_finishes_with_stop(llama: LocalLlama) -> None:
    messages = [Message("user", "Reply with the single word: yes")]
    chunks = await collect(llama.generate(messages, Sampling(max_tokens=32, temperature=0)))
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].output_tokens < 32


@model
async def test_stop_string_is_never_shown(llama: LocalLlama) -> None:
    sampling = Sampling(max_tokens=60, temperature=0, stop=("e",))
    chunks = await collect(llama.generate(STORY, sampling))
    assert "e" not in "".join(c.text for c in chunks)
    assert chunks[-1].finish_reason == "stop"


@model
async def test_closing_stops_the_worker_within_a_token_and_frees_the_model(llama: LocalLlama) -> None:
    before = llama.tokens_after_cancel
    llama.draft_tokens = 0  # plain decoding: a step is one token
    stream = llama.generate(STORY, Sampling(max_tokens=400))
    for _ in range(3):
        await stream.__anext__()
    await stream.aclose()  # type: ignore[attr-defined]
    llama.draft_tokens = local._DRAFT_MOST
    # aclose() returns once the worker is done with the model (its thread exits right after).
    assert stopped(llama.worker)
    assert llama.tokens_after_cancel - before <= 1
    second = llama.generate(STORY, Sampling(max_tokens=2))
    first = await asyncio.wait_for(second.__anext__(), timeout=5)
    assert first.output_tokens == 1
    await second.aclose()  # type: ignore[attr-defined]


@model
async def test_cancelling_the_task_interrupts_the_prompt_evaluation(
    llama: LocalLlama, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "_PREFILL_STEP", 16)  # many steps, however fast the machine
    document = " ".join(f"Line {n}: the cat sat on the mat and looked at the moon." for n in range(35))
    messages = [Message("user", f"Summarize:\n{document}")]
    prompt = llama.prompt_tokens(messages)
    assert 500 < len(prompt) < 700
    llama.llm.reset()  # nothing cached: the whole prompt must be evaluated
    chunks: list[Chunk] = []

    async def consume() -> None:
        chunks.extend(await collect(llama.generate(messages, Sampling(max_tokens=8))))

    task = asyncio.create_task(consume())
    while llama.llm.n_tokens == 0:  # the first step of the prompt is in
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stopped(llama.worker)
    assert chunks == []
    assert 0 < llama.llm.n_tokens < len(prompt)  # stopped in the middle of the prompt
    # The next request reuses what was evaluated and answers normally.
    again = await collect(llama.generate(messages, Sampling(max_tokens=2, temperature=0)))
    assert again[-1].output_tokens == 2


@model
async def test_one_generation_at_a_time(llama: LocalLlama) -> None:
    order: list[str] = []

    async def run(name: str) -> None:
        async for chunk in llama.generate(STORY, Sampling(max_tokens=4)):
            order.append(name if chunk.finish_reason is None else name.upper())

    await asyncio.gather(run("a"), run("b"))
    # Whichever prompt is tokenized first (in a thread, before the model's lock) goes first.
    assert order in (["a"] * 4 + ["A"] + ["b"] * 4 + ["B"], ["b"] * 4 + ["B"] + ["a"] * 4 + ["A"])


@model
async def test_prompt_longer_than_the_context(llama: LocalLlama) -> None:
    with pytest.raises(LLMError, match="does not fit"):
        await collect(llama.generate([Message("user", "cat " * 3000)], Sampling()))


@model
def test_create_backend_loads_the_preset(tmp_path: Path) -> None:
    settings = Settings(llm="local", model="smollm2-135m", context_size=512, threads=1)
    backend = create_backend(settings, tmp_path)
    assert isinstance(backend, LocalLlama)
    assert (backend.info.name, backend.info.context_size) == ("smollm2-135m", 512)
    assert (tmp_path / "models" / "smollm2-135m.sha256.json").exists()
    asyncio.run(backend.close())


# A text to polish: the answer copies most of it, so prompt-lookup drafts are often right.
PARAGRAPH = (
    "The old lighthouse keeper climbed the stairs one last time. For forty years he had kept the light "
    "burning, through storms and calm nights alike, and tomorrow the machines would take over. He "
    "cleaned the lens, wound the clock and wrote the date in the log, as he had done every evening."
)
POLISH = [
    Message("system", "You are an expert editor. Output only the polished text."),
    Message("user", f"<text>\n{PARAGRAPH}\n</text>\n\nPolish the text above. Output only the polished text."),
]


async def decoded(llama: LocalLlama, draft_tokens: int, sampling: Sampling) -> list[Chunk]:
    llama.draft_tokens = draft_tokens
    try:
        return await collect(llama.generate(POLISH, sampling))
    finally:
        llama.draft_tokens = local._DRAFT_MOST


@model
@pytest.mark.parametrize(
    "sampling", [Sampling(max_tokens=120, temperature=0), Sampling(max_tokens=120, seed=3)]
)
async def test_speculative_decoding_is_plain_decoding_token_for_token(
    llama: LocalLlama, sampling: Sampling
) -> None:
    plain = await decoded(llama, 0, sampling)
    accepted = llama.accepted
    fast = await decoded(llama, local._DRAFT_MOST, sampling)
    assert llama.accepted - accepted > 20  # most of the text came from verified drafts
    assert fast == plain  # every chunk: text, usage and finish reason
    if sampling.temperature == 0:
        # Plain decoding is what llama-cpp-python's own generator produces (run on the model's thread).
        def generated() -> str:
            tokens = llama.llm.generate(llama.prompt_tokens(POLISH), temp=0, repeat_penalty=1.05)
            pieces = [llama._piece(next(tokens)) for _ in range(len(plain) - 1)]
            tokens.close()
            return b"".join(pieces).decode(errors="replace")

        reference = llama._thread.submit(generated).result()
        assert reference.startswith("".join(c.text for c in plain))


@model
async def test_cancel_during_speculative_decoding_stops_within_one_step(llama: LocalLlama) -> None:
    before, accepted = llama.tokens_after_cancel, llama.accepted
    stream = llama.generate(POLISH, Sampling(max_tokens=400, temperature=0))
    for _ in range(30):
        await stream.__anext__()
    assert llama.accepted > accepted  # drafts are being verified
    await stream.aclose()  # type: ignore[attr-defined]
    assert stopped(llama.worker)
    assert llama.tokens_after_cancel - before <= llama.draft_tokens + 1  # one verification step


@model
def test_step_costs_are_measured_at_load(llama: LocalLlama) -> None:
    costs = llama.step_costs
    assert costs[0] == 1.0
    assert 1 <= len(costs) <= local._DRAFT_MOST + 1  # sizes past the time budget are left out
    # Without a time budget every size is measured. A batch costs at least a one-token step, and far
    # less than its tokens one by one times two (loose: the figures are timings; a bound broken by
    # this much in three measurements means the measurement is wrong, not the machine busy: on
    # cores shared with other model processes a step can stall in every round of one).
    for _ in range(3):
        costs = llama._thread.submit(step_costs.measure, llama.llm, 8, 3, 600.0).result()
        assert len(costs) == 9 and costs[0] == 1.0 and min(costs) >= 1.0
        if all(cost < 2 * (k + 1) for k, cost in enumerate(costs)):
            break
    else:
        pytest.fail(f"a batch cost more than twice its tokens one by one, three times: {costs}")
    # Out of time before the first step: no table, so no drafts.
    assert llama._thread.submit(step_costs.measure, llama.llm, 8, 3, 0.0).result() == (1.0,)


@model
async def test_step_costs_are_measured_when_drafts_are_first_allowed(tmp_path: Path) -> None:
    path = resolve_model("smollm2-135m", tmp_path / "models")
    backend = LocalLlama(path, name="smollm2-135m", context_size=512, threads=1, draft_tokens=0)
    try:
        assert backend.step_costs == (1.0,)  # plain decoding needs no table
        greedy = Sampling(max_tokens=40, temperature=0)
        plain = await collect(backend.generate(POLISH, greedy))
        backend.draft_tokens = 3
        # Measured in the KV cache past the cached prompt, which the next request reuses as it was.
        fast = await collect(backend.generate(POLISH, greedy))
        assert 1 < len(backend.step_costs) <= 4  # (fewer if the time budget ran out)
        assert backend.accepted > 0
        assert fast == plain
    finally:
        await backend.close()


def test_unloadable_model_is_an_llm_error(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(LLMError, match="cannot load"):
        LocalLlama(bad, name="bad", context_size=256, threads=1)


def test_stop_text_holds_back_what_may_start_a_stop_string() -> None:
    text = StopText(("\n\n", "END"))
    assert text.add(b"Hello\n") == ("Hello", False)
    assert text.add(b"wor") == ("\nwor", False)
    assert text.add(b"ld E") == ("ld ", False)
    assert text.add(b"N") == ("", False)
    assert text.add(b"Dless") == ("", True)
    assert text.flush() == ""


def test_stop_text_joins_split_utf8_and_flushes() -> None:
    text = StopText(())
    data = "猫 café".encode()
    assert text.add(data[:2]) == ("", False)
    assert text.add(data[2:8]) == ("猫 caf", False)
    assert text.add(data[8:]) == ("é", False)
    assert text.add(b"\xe7") == ("", False)
    assert text.flush() == "\ufffd"
    held = StopText(("STOP",))
    assert held.add(b"go ST") == ("go ", False)
    assert held.flush() == "ST"
