from __future__ import annotations

import random

import pytest

from ossdoc.services.docs.chunking import separator, split, tail


def _document(rng: random.Random, paragraphs: int) -> str:
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    out = []
    for _ in range(paragraphs):
        sentences = [
            " ".join(rng.choices(words, k=rng.randint(3, 15))).capitalize() + "."
            for _ in range(rng.randint(1, 6))
        ]
        out.append(" ".join(sentences))
    return "\n\n".join(out) + "\n"


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("max_chars", [80, 300, 2000])
def test_pieces_rebuild_the_text_and_fit(seed: int, max_chars: int) -> None:
    text = _document(random.Random(seed), 30)
    pieces = split(text, max_chars)
    assert "".join(pieces) == text
    assert all(len(p.rstrip()) <= max_chars for p in pieces)


def test_paragraph_boundaries_are_preferred() -> None:
    text = "First paragraph here.\n\nSecond one.\n\nThird paragraph is here."
    assert split(text, 40) == ["First paragraph here.\n\nSecond one.\n\n", "Third paragraph is here."]


@pytest.mark.parametrize("seed", range(10))
def test_paragraphs_alone_rebuild_the_text_one_paragraph_a_piece(seed: int) -> None:
    text = _document(random.Random(seed), 30)
    pieces = split(text, 300, paragraphs_alone=True)
    assert "".join(pieces) == text
    assert all(len(p.rstrip()) <= 300 and "\n\n" not in p.rstrip() for p in pieces)
    paragraphs = text.split("\n\n")
    assert len(pieces) >= len(paragraphs)  # a paragraph longer than a piece still splits


def test_paragraphs_alone_keeps_short_paragraphs_apart() -> None:
    text = "First paragraph here.\n\nSecond one.\n\nThird paragraph is here."
    pieces = split(text, 40, paragraphs_alone=True)
    assert pieces == ["First paragraph here.\n\n", "Second one.\n\n", "Third paragraph is here."]


def test_long_paragraph_splits_at_sentences_cjk_too() -> None:
    text = "第一句话很短。第二句话也很短！第三句话呢？最后一句。"
    pieces = split(text, 15)
    assert "".join(pieces) == text
    assert all(p.endswith(("。", "！", "？")) for p in pieces)


def test_a_sentence_longer_than_a_piece_is_cut() -> None:
    text = "x" * 250
    pieces = split(text, 100)
    assert "".join(pieces) == text
    assert [len(p) for p in pieces] == [100, 100, 50]


def test_separator_and_tail() -> None:
    assert separator("Para.\n\n") == "\n\n"
    assert separator("Para.") == ""
    text = "Old part. " * 50 + "\n\nThe final paragraph of the story."
    end = tail(text, 60)
    assert end == "The final paragraph of the story."
    assert tail("short", 60) == "short"
