"""Sampling.latin_penalty and cjk_penalty on the embedded backend (SmolLM2-135M, an English-only
model): the tokens spelt in Latin letters (or holding CJK characters) are weighed down, everything
else is sampled as before."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from ossdoc.backends.llm import Message, Sampling
from ossdoc.backends.llm.local import LocalLlama

pytestmark = [pytest.mark.anyio, pytest.mark.model]
STORY = [Message("user", "Write a long story about a cat.")]


async def text_of(llama: LocalLlama, sampling: Sampling) -> str:
    return "".join([chunk.text async for chunk in llama.generate(STORY, sampling)])


async def test_the_latin_tokens_are_words_in_latin_letters(llama: LocalLlama) -> None:
    latin = set(llama._latin_tokens())
    words = [llama.llm.tokenize(w.encode(), add_bos=False, special=False) for w in (" cat", "The", " story")]
    assert all(len(ids) == 1 and ids[0] in latin for ids in words)
    others = [llama.llm.tokenize(t.encode(), add_bos=False, special=False) for t in (" 1", ".", "\n")]
    assert not any(ids[0] in latin for ids in others)


@pytest.mark.parametrize("temperature", [0.0, 0.7])
async def test_a_heavy_penalty_leaves_no_latin_word(llama: LocalLlama, temperature: float) -> None:
    plain = Sampling(max_tokens=24, temperature=temperature, seed=3)
    assert re.search("[A-Za-z]{3}", await text_of(llama, plain))  # an English model writes English
    steered = await text_of(
        llama, Sampling(max_tokens=24, temperature=temperature, seed=3, latin_penalty=100)
    )
    assert not re.search("[A-Za-z]", steered), steered


@pytest.mark.parametrize("temperature", [0.0, 0.7])
async def test_the_chain_with_a_bias_samples_as_llama_cpp_python_s_own(
    llama: LocalLlama, temperature: float
) -> None:
    # A bias too small to move any choice: the chain built beside it must be _init_sampler's.
    plain = Sampling(max_tokens=32, temperature=temperature, seed=5)
    biased = Sampling(max_tokens=32, temperature=temperature, seed=5, latin_penalty=1e-6)
    assert await text_of(llama, biased) == await text_of(llama, plain)


# Characters that are one token each in SmolLM2's vocabulary (it holds 90 CJK tokens).
CHINESE = "的数用个是中为文不有据行在时"


async def test_the_cjk_tokens_hold_chinese_or_japanese_characters(llama: LocalLlama) -> None:
    cjk = set(llama._cjk_tokens())
    singles = [llama.llm.tokenize(c.encode(), add_bos=False, special=False) for c in CHINESE + "のを"]
    assert all(len(ids) == 1 and ids[0] in cjk for ids in singles)
    assert not cjk & set(llama._latin_tokens())
    others = [llama.llm.tokenize(t.encode(), add_bos=False, special=False) for t in (" cat", "1", "，")]
    assert not any(ids[0] in cjk for ids in others)


@pytest.mark.parametrize("temperature", [0.0, 0.7])
async def test_a_heavy_cjk_penalty_leaves_no_chinese_character(llama: LocalLlama, temperature: float) -> None:
    # Its answer begun with the first characters: it goes on copying the others.
    copy = [Message("user", f"Repeat: {CHINESE}"), Message("assistant", CHINESE[:4])]
    plain = Sampling(max_tokens=20, temperature=temperature, seed=3)
    said = "".join([chunk.text async for chunk in llama.generate(copy, plain)])
    assert re.search(f"[{CHINESE}]", said), said
    steered = replace(plain, cjk_penalty=100)
    said = "".join([chunk.text async for chunk in llama.generate(copy, steered)])
    assert not re.search(f"[{CHINESE}]", said), said


async def test_the_bias_array_is_built_once_per_pair_of_penalties(llama: LocalLlama) -> None:
    latin = llama._bias(Sampling(latin_penalty=4.0))
    assert latin is not None and latin[0] == len(llama._latin_tokens())
    assert llama._bias(Sampling(latin_penalty=4.0, temperature=0.0)) is latin  # reused, not rebuilt
    assert llama._bias(Sampling(latin_penalty=6.0)) is not latin
    both = llama._bias(Sampling(latin_penalty=4.0, cjk_penalty=6.0))
    assert both is not None and both[0] == len(set(llama._latin_tokens()) | set(llama._cjk_tokens()))
    assert llama._bias(Sampling()) is None
    # Still the text a freshly built chain samples: a penalty after another one changes nothing.
    first = await text_of(llama, Sampling(max_tokens=16, temperature=0.0, latin_penalty=100))
    assert await text_of(llama, Sampling(max_tokens=16, temperature=0.0, latin_penalty=100)) == first
