from __future__ import annotations

import itertools

import pytest

from ossdoc.services.docs.sentences import sentence_ends


def sentences(text: str) -> list[str]:
    cuts = [0, *sentence_ends(text), len(text)]
    return [text[a:b].strip() for a, b in itertools.pairwise(cuts) if text[a:b].strip()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It rained. The game was off.", ["It rained.", "The game was off."]),
        (
            "Did it rain? Yes! It did… Then it stopped.",
            ["Did it rain?", "Yes!", "It did…", "Then it stopped."],
        ),
        ('He said "no." Then he left.', ['He said "no."', "Then he left."]),
        ("Prices rose 2.5 percent. Rents fell.", ["Prices rose 2.5 percent.", "Rents fell."]),
        # Not sentence ends: titles, initials, dotted abbreviations, a list's numbers, "No." before a number.
        (
            "Mr. Smith met Dr. Lee and Prof. Chen. They agreed.",
            ["Mr. Smith met Dr. Lee and Prof. Chen.", "They agreed."],
        ),
        (
            "U.S. officials and U.S. President Biden spoke. It ended.",
            ["U.S. officials and U.S. President Biden spoke.", "It ended."],
        ),
        (
            "Small models copy, e.g. The Times does not. I.e. They copy.",
            ["Small models copy, e.g. The Times does not.", "I.e. They copy."],
        ),
        (
            "The book by J. K. Rowling sold. It was a hit.",
            ["The book by J. K. Rowling sold.", "It was a hit."],
        ),
        ("Steps:\n1. The board meets.\n2. It votes.", ["Steps:\n1. The board meets.", "2. It votes."]),
        (
            "He lives at No. 10 Downing Street. He left on Jan. 5 at noon.",
            ["He lives at No. 10 Downing Street.", "He left on Jan. 5 at noon."],
        ),
        (
            "Le conseil a reçu M. Dupont et Mme. Martin. Il a dit « oui. » Puis il est parti.",
            ["Le conseil a reçu M. Dupont et Mme. Martin.", "Il a dit « oui. »", "Puis il est parti."],
        ),
        (
            "Il a vu l'équipe. États et régions ont voté. été.",
            ["Il a vu l'équipe.", "États et régions ont voté. été."],
        ),
        # But a number ending a sentence in the middle of a line is a sentence's end.
        ("The score was 3. The fans left.", ["The score was 3.", "The fans left."]),
        # CJK full stops need no space.
        (
            "董事会周一开会。它同意了！「好。」然后散会。",
            ["董事会周一开会。", "它同意了！", "「好。」", "然后散会。"],
        ),
        ("会議は月曜日に開かれた。彼は同意した。", ["会議は月曜日に開かれた。", "彼は同意した。"]),
    ],
)
def test_sentence_ends(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_an_end_needs_the_next_word_to_have_begun() -> None:
    assert list(sentence_ends("It rained.")) == []
    assert list(sentence_ends("It rained. ")) == []
    assert list(sentence_ends("It rained. T")) == [10]
    assert list(sentence_ends("It rained. t")) == []
    assert list(sentence_ends("今天下雨。")) == [5]


def test_from_a_start() -> None:
    assert list(sentence_ends("Ab cd. Ef gh. Ij kl.", 7)) == [13]
