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
        # A quotation that opens the reply without ending it keeps its marks.
        ("“Hello,” she said.", "“Hello,” she said."),
        ('"Hello," she said, "goodbye."', '"Hello," she said, "goodbye."'),
        ("「東京」は大きい。", "「東京」は大きい。"),
        ("“伦敦警察厅”表示，警察正在核实该名男子身份。", "“伦敦警察厅”表示，警察正在核实该名男子身份。"),
        ('"The best way to denounce it," he said.', '"The best way to denounce it," he said.'),
        ('"An opening mark that is never closed.', '"An opening mark that is never closed.'),
        # A quotation that is the whole reply loses them, quotations inside it counted.
        ('"Bonjour, le monde. C\'est "beau"."', 'Bonjour, le monde. C\'est "beau".'),
        ("“He said “no” to me.”", "He said “no” to me."),
        ('"Bonjour."\n\nNote: I kept the name.', "Bonjour."),
        ('```\n"Bonjour"\n```', "Bonjour"),
        ('""', ""),
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


def test_a_source_that_is_one_quotation_keeps_the_marks_of_a_result_that_is_too() -> None:
    assert clean('"Bonjour."', source="“Hello.”") == '"Bonjour."'
    assert clean('"Bonjour."', source="“Hello,” she said.") == "Bonjour."


def test_nothing_is_streamed_until_the_start_is_decided() -> None:
    streamed, final = stream("x", "Here is the translation: Bonjour", list(range(1, 32)))
    assert streamed[0] == "Bo"  # "B" could still become "Below is…"
    assert final == "Bonjour"


def test_trailing_closers_and_space_are_held_back() -> None:
    cleaner = Cleaner("x")
    assert cleaner.feed("```\nBonjour ") == "Bonjour"
    assert cleaner.feed("```\nBonjour le monde`") == "Bonjour le monde"
    assert cleaner.feed("```\nBonjour le monde</te") == "Bonjour le monde"
    assert cleaner.finish("```\nBonjour le monde```\n") == "Bonjour le monde"


def test_an_opening_quotation_mark_waits_for_its_quotation_to_end() -> None:
    # Nothing goes out while the quotation may still be the whole reply: its mark cannot be taken back.
    cleaner = Cleaner("x")
    assert cleaner.feed('"Bonjour ') == ""
    assert cleaner.feed('"Bonjour le monde"') == ""
    assert cleaner.feed('"Bonjour le monde"\n\nNot') == ""  # may become notes after the whole reply
    assert cleaner.feed('"Bonjour le monde" dit') == '"Bonjour le monde" dit'
    assert cleaner.finish('"Bonjour le monde" dit-il.') == '"Bonjour le monde" dit-il.'
    wrapped = Cleaner("x")
    assert wrapped.feed("“Bonjour le monde.”") == ""
    assert wrapped.finish("“Bonjour le monde.”\n") == "Bonjour le monde."


OUTPUTS = [
    'Here is the translation:\n\n"Bonjour, le monde. C\'est "beau"."\n',
    "```markdown\n# Title\n\nSome `code` and ``` fences ```\n```",
    "<text>\n你好，“世界”。</text>",
    "Sure, here you go:\n\nTranslation: 「東京」は大きい。",
    'Plain text with trailing quote "',
    "H",
    "Summary: it rained — a lot.   ",
    "“Hello,” she said, “the “best” way.”",
    '"Bonjour, le monde."\n\nNote: the name is kept."',
    "「東京」は大きい。\n\n注：東京は首都。",
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


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Bonjour le monde.\n\n**Translation Notes:**\n- « monde » is world.", "Bonjour le monde."),
        ("Bonjour.\n\nNote: I kept the name.\n\nAnother note.", "Bonjour."),
        ("Bonjour.\n\n---\n\n### Translation notes\n1. A note.", "Bonjour."),
        ("Bonjour.\n\n**Notes du traducteur** :\n- Une note.", "Bonjour."),
        ("你好，世界。\n\n注：“世界”即 world。", "你好，世界。"),
        ("こんにちは。\n\n**訳注**\n名前はそのまま。", "こんにちは。"),
        # Not notes: no blank line before, a note inside a sentence, a plain "Notes" line, a rule.
        ("Bonjour.\nNote: gardez-le.", "Bonjour.\nNote: gardez-le."),
        ("Bonjour.\n\nNote that it rained.", "Bonjour.\n\nNote that it rained."),
        ("Bonjour.\n\nNotes\nLe marché a fermé.", "Bonjour.\n\nNotes\nLe marché a fermé."),
        ("Bonjour.\n\n---\n\nLe marché a fermé.", "Bonjour.\n\n---\n\nLe marché a fermé."),
        ("注意力。\n\n注意：小心。", "注意力。\n\n注意：小心。"),
    ],
)
def test_notes_appended_at_the_end_are_removed(raw: str, expected: str) -> None:
    assert clean(raw) == expected


def test_notes_the_source_has_are_kept() -> None:
    raw = "Bonjour.\n\nRemarque : le bureau ferme à midi."
    assert clean(raw, source="Hello.\n\nNote: the office closes at noon.") == raw
    assert clean(raw) == "Bonjour."


@pytest.mark.parametrize(
    "raw",
    [
        "Bonjour le monde.\n\n---\n\n**Translation Notes:**\n- « monde » is world.\n",
        "Bonjour.\n\nNot a note, but a paragraph.\n\n注：译注。",
        "Bonjour.\n\n***\n\nFin.",
    ],
)
def test_notes_never_go_out_while_streaming(raw: str) -> None:
    rng = random.Random(raw)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(raw) + 1), k=min(len(raw), rng.randint(1, 20))))
        streamed, final = stream("source", raw, cuts)
        for earlier, later in itertools.pairwise([*streamed, final]):
            assert later.startswith(earlier), (cuts, streamed, final)
        assert final == clean(raw, "source")
        assert not any(word in text for text in streamed for word in ("Notes:", "注："))
    streamed, final = stream("source", raw, list(range(1, len(raw))))
    assert all(final.startswith(text) for text in streamed)
