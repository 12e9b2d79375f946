from __future__ import annotations

import itertools
import random

import pytest

from ossdoc.services.docs.cleaning import Cleaner

LABELS = ("translation", "译文", "summary")


def stream(source: str, raw: str, cuts: list[int]) -> tuple[list[str], str]:
    """Feed ``raw`` cut at ``cuts``; the distinct texts streamed and the final text."""
    cleaner = Cleaner(source, LABELS)
    streamed: list[str] = []
    for cut in [*cuts, len(raw)]:
        text = cleaner.feed(raw[:cut])
        if text and (not streamed or text != streamed[-1]):
            streamed.append(text)
    return streamed, cleaner.finish(raw)


def clean(raw: str, source: str = "source text") -> str:
    return stream(source, raw, list(range(1, len(raw))))[1]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello world.", "Hello world."),
        ("  Hello world.  \n", "Hello world."),
        ("Here is the translation:\n\nBonjour le monde.", "Bonjour le monde."),
        ("Sure! Here's the French translation: Bonjour.", "Bonjour."),
        ("Translation: Bonjour.", "Bonjour."),
        ("**Translation:** Bonjour.", "**Translation:** Bonjour."),
        ("以下是翻译后的内容：\n你好，世界。", "你好，世界。"),
        ("译文：你好", "你好"),
        ('"Bonjour le monde."', "Bonjour le monde."),
        ("“你好，世界。”", "你好，世界。"),
        ("「こんにちは」", "こんにちは"),
        ("```\nBonjour\n```", "Bonjour"),
        ("```text\nBonjour\n```\n", "Bonjour"),
        ("<text>\nBonjour\n</text>", "Bonjour"),
        ("Bonjour</text>", "Bonjour"),
        ('Here is the summary:\n"It rained."', "It rained."),
        ('He said "hi"', 'He said "hi"'),
        ("Hereford is a city: a small one.", "Hereford is a city: a small one."),
        ("Here", "Here"),
        ("", ""),
    ],
)
def test_clean(raw: str, expected: str) -> None:
    assert clean(raw) == expected


def test_a_label_the_source_has_too_is_kept() -> None:
    source = "以下是三个原因：天气、交通和价格。"
    assert clean("Here are three reasons: weather, traffic and price.", source) == (
        "Here are three reasons: weather, traffic and price."
    )
    assert clean("Here are three reasons: weather, traffic and price.") == "weather, traffic and price."


def test_a_quote_the_source_opens_with_is_kept() -> None:
    assert clean('"Hi," she said.', source='"你好，"她说。') == '"Hi," she said.'


def test_nothing_is_streamed_until_the_start_is_decided() -> None:
    streamed, final = stream("x", "Here is the translation: Bonjour", list(range(1, 32)))
    assert streamed[0] == "Bo"  # "B" could still become "Below is…"
    assert final == "Bonjour"


def test_trailing_closers_and_space_are_held_back() -> None:
    cleaner = Cleaner("x")
    assert cleaner.feed('"Bonjour ') == "Bonjour"
    assert cleaner.feed('"Bonjour le monde"') == "Bonjour le monde"
    assert cleaner.feed('"Bonjour le monde</te') == "Bonjour le monde"
    assert cleaner.finish('"Bonjour le monde"\n') == "Bonjour le monde"


OUTPUTS = [
    'Here is the translation:\n\n"Bonjour, le monde. C\'est "beau"."\n',
    "```markdown\n# Title\n\nSome `code` and ``` fences ```\n```",
    "<text>\n你好，“世界”。</text>",
    "Sure, here you go:\n\nTranslation: 「東京」は大きい。",
    'Plain text with trailing quote "',
    "H",
    "Summary: it rained — a lot.   ",
]


@pytest.mark.parametrize("raw", OUTPUTS)
def test_streamed_texts_only_grow_and_the_final_one_extends_them(raw: str) -> None:
    rng = random.Random(raw)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(raw) + 1), k=min(len(raw), rng.randint(1, 12))))
        streamed, final = stream("source", raw, cuts)
        texts = [*streamed, final]
        for earlier, later in itertools.pairwise(texts):
            assert later.startswith(earlier), (cuts, streamed, final)
        # However the output was cut into tokens, the result is the same.
        assert final == clean(raw, "source")
