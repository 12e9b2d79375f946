"""Prompt-lookup drafts, and the draft length chosen from the acceptance rate and a table of step
costs."""

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


# Step costs by draft length k (a batch of 1 + k tokens), in one-token steps.
CHEAP = tuple(1 + 0.15 * k for k in range(9))  # a batch reads the weights once
# As measured with llama.cpp's repacked Q4_K weights: a GEMV per row for batches of 2 and 3, a GEMM
# from 4 rows on.
REPACKED = (1.0, 2.3, 3.1, 2.9, 3.6, 3.9, 4.6, 5.0, 5.8)
# Cheap up to 6 tokens, then dear.
STEEP = (1.0, 1.2, 1.3, 1.4, 1.5, 1.6, 5.0, 6.0, 7.0)
TRANSLATION, POLISH = 0.44, 0.99  # acceptance rates measured on doc/translate en→ja and doc/polish


def test_expensive_small_batches_keep_a_translation_at_plain_decoding() -> None:
    assert DraftLength(8, REPACKED, prior=TRANSLATION).choose(8) == 0
    assert DraftLength(8, REPACKED, prior=0.7).choose(8) == 0  # (1 + .7 + .49 + .34) / 2.9 < 1


def test_cheap_batches_draft_at_a_translations_acceptance() -> None:
    assert DraftLength(8, CHEAP, prior=TRANSLATION).choose(8) == 2  # 1.63 tokens for 1.3 steps
    assert DraftLength(8, CHEAP, prior=TRANSLATION).choose(1) == 1
    assert DraftLength(8, CHEAP, prior=0.05).choose(8) == 0


def test_copied_text_drafts_the_length_that_pays_most() -> None:
    assert DraftLength(8, CHEAP, prior=POLISH).choose(8) == 8
    assert DraftLength(8, REPACKED, prior=POLISH).choose(8) == 7  # 8 tokens for 5 steps: the best rate
    assert DraftLength(8, REPACKED, prior=POLISH).choose(2) == 0  # 2 or 3 tokens cost more than that
    assert DraftLength(8, STEEP, prior=POLISH).choose(8) == 5
    assert DraftLength(4, STEEP, prior=POLISH).choose(8) == 4
    assert DraftLength(8, CHEAP[:4], prior=POLISH).choose(8) == 3  # no cost known past 3 drafts


def test_a_draft_must_pay_by_the_margin() -> None:
    costs = (1.0, 1.95)  # 1.99 tokens for 1.95 steps: 2% more
    assert DraftLength(1, costs, prior=POLISH).choose(1) == 0
    assert DraftLength(1, costs, prior=POLISH, margin=0.01).choose(1) == 1


def test_greedy_chooses_between_batches_of_2_and_3() -> None:
    # Under greedy a step is a batch of 2 or 3: a guess replaces the pad, whatever the acceptance.
    assert DraftLength(2, REPACKED, least=1, prior=0.01).choose(1) == 1
    assert DraftLength(2, REPACKED, least=1, prior=0.01).choose(0) == 0  # the pad
    assert DraftLength(2, REPACKED, least=1, prior=TRANSLATION).choose(8) == 1  # 1.63 / 3.1 < 1.44 / 2.3
    assert DraftLength(2, REPACKED, least=1, prior=POLISH).choose(8) == 2  # 2.97 / 3.1 > 1.99 / 2.3
    assert DraftLength(2, (1.0, 2.0, 3.9), least=1, prior=POLISH).choose(8) == 1


def test_draft_length_follows_acceptance() -> None:
    length = DraftLength(8, CHEAP)
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
    length = DraftLength(4, CHEAP)
    for _ in range(60):
        length.scored([5, 6], [5])  # length 0: the first guess scored against the token produced
    assert length.acceptance > 0.9
    assert length.choose(2) >= 1


def test_a_miss_after_two_shortens_the_draft() -> None:
    length = DraftLength(8, CHEAP)
    for _ in range(30):
        length.scored([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 9])  # two right, then a miss
    assert 0 < length.choose(8) < 8
