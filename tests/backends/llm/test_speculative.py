"""Prompt-lookup drafts and the draft length chosen from acceptance and cost."""

from __future__ import annotations

from ossdoc.backends.llm.speculative import DraftLength, PromptLookup


def test_prompt_lookup_drafts_what_followed_the_ending_before() -> None:
    drafts = PromptLookup([7, 1, 2, 3, 4, 5, 6])
    assert drafts.draft(3) == []  # the ending (5, 6) occurs nowhere else
    drafts.extend([9, 2, 3])
    assert drafts.draft(3) == [4, 5, 6]
    assert drafts.draft(10) == [4, 5, 6, 9, 2, 3]  # up to the end of the history
    assert drafts.draft(0) == []
    drafts.extend([8, 2, 3])  # (2, 3) again, now followed by 8 the latest time
    assert drafts.draft(2) == [8, 2]


def test_prompt_lookup_prefers_the_longest_ending() -> None:
    drafts = PromptLookup([1, 2, 3, 10, 5, 2, 3, 20, 1, 2, 3])
    assert drafts.draft(1) == [10]  # (1, 2, 3) was followed by 10; (2, 3) last by 20
    assert PromptLookup([4, 4]).draft(1) == []  # a single token never drafts


def test_draft_length_follows_acceptance() -> None:
    length = DraftLength(8)
    for _ in range(40):
        length.scored([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert length.acceptance > 0.9
    assert length.choose(8) == 8
    assert length.choose(3) == 3
    for _ in range(150):
        length.scored([1, 2, 3], [4])  # the first guess wrong: plain decoding pays better
    assert length.acceptance < 0.05
    assert length.choose(8) == 0


def test_unverified_drafts_still_teach() -> None:
    length = DraftLength(4)
    for _ in range(60):
        length.scored([5, 6], [5])  # length 0: the first guess scored against the token produced
    assert length.acceptance > 0.9
    assert length.choose(2) >= 1


def test_a_miss_after_two_shortens_the_draft() -> None:
    length = DraftLength(8)
    for _ in range(30):
        length.scored([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 9])  # two right, then a miss
    assert 0 < length.choose(8) < 8
