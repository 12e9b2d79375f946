"""Greedy decoding gives the same bytes with and without speculative drafts, on the bundled
qwen2.5-coder-0.5b (the model whose CPU kernels differ by batch size) and whatever the KV cache held
before: plain decoding first, then speculative, then plain again after an unrelated prompt."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from ossdoc.backends.llm import Chunk, Message, Sampling, local
from ossdoc.backends.llm.local import LocalLlama
from ossdoc.models import resolve_model
from ossdoc.services.docs.operations import OPERATIONS
from ossdoc.services.docs.registry import Args

pytestmark = [pytest.mark.anyio, pytest.mark.model]

# Names, numbers and phrases that a polish and a translation copy: drafts are verified often.
TEXT = (
    "On 14 March 2023 the Westmere Harbour Trust sold the old customs house to Anna Kowalski for "
    "1,250,000 euros. Kowalski, who runs the Blue Anchor bakery on Quay Street, plans to open a museum "
    "there in June 2025, with the model of the harbour as it looked in 1900 at its centre."
)
CASES = {
    "polish": OPERATIONS["doc/polish"].prompt(TEXT, Args({})),
    "translate-fr": OPERATIONS["doc/translate"].prompt(TEXT, Args({"language": "fr_FR"})),
}
GREEDY = Sampling(max_tokens=48, temperature=0, stop=("</text>",))


@pytest.fixture(scope="module")
def qwen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLlama]:
    path = resolve_model("qwen2.5-coder-0.5b", tmp_path_factory.mktemp("models"))
    backend = LocalLlama(path, name="qwen2.5-coder-0.5b", context_size=2048, threads=2)
    yield backend
    asyncio.run(backend.close())


async def decode(llama: LocalLlama, messages: list[Message], draft_tokens: int) -> list[Chunk]:
    llama.draft_tokens = draft_tokens
    try:
        return [c async for c in llama.generate(messages, GREEDY)]
    finally:
        llama.draft_tokens = local._DRAFT_MOST


def text(chunks: list[Chunk]) -> str:
    return "".join(c.text for c in chunks)


@pytest.mark.parametrize("case", list(CASES))
async def test_speculative_greedy_is_plain_greedy_byte_for_byte(qwen: LocalLlama, case: str) -> None:
    messages = CASES[case]
    plain = await decode(qwen, messages, 0)
    accepted = qwen.accepted
    fast = await decode(qwen, messages, local._DRAFT_MOST)
    assert qwen.accepted - accepted >= (8 if case == "polish" else 3)  # drafts verified and kept
    assert text(fast).encode() == text(plain).encode()
    assert fast == plain  # every chunk: text, usage and finish reason
    await decode(qwen, CASES["translate-fr" if case == "polish" else "polish"], 0)  # another prompt cached
    assert await decode(qwen, messages, 0) == plain


async def test_one_token_steps_are_what_differs(qwen: LocalLlama) -> None:
    """The reason for the batches of 2 or 3: without them, the same greedy request computed as one-
    token steps gives other logits. (Checked on the logits, not the text: a flip needs a near-tie.)"""
    import numpy as np

    llm, size = qwen.llm, qwen.llm.n_vocab()
    tokens = qwen.prompt_tokens(CASES["polish"])

    def logits(steps: list[int]) -> list[object]:
        llm.reset()
        llm._ctx.kv_cache_clear()
        llm.eval(tokens[:64])
        rows, at = [], 64
        for n in steps:
            llm._batch.set_batch(batch=tokens[at : at + n], n_past=at, logits_all=True)
            llm._ctx.decode(llm._batch)
            pointer = qwen._llama_cpp.llama_get_logits(llm._ctx.ctx)
            rows += [row.copy() for row in np.ctypeslib.as_array(pointer, shape=(n, size))]
            at += n
        return rows

    def run(steps: list[int]) -> list[object]:
        return qwen._thread.submit(logits, steps).result()

    pairs, mixed, ones = run([2, 2, 2]), run([3, 3]), run([1] * 6)
    assert all(np.array_equal(a, b) for a, b in zip(pairs, mixed, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(pairs, ones, strict=True))
