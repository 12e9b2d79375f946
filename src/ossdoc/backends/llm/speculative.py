"""Speculative decoding's two halves that need no model: drafts from the text so far, and how many
of them are worth verifying.

A draft is a guess of the next tokens; the target model checks a whole draft in one batch (the last
token and the guesses), sampling every position as plain decoding would and keeping the guesses up
to the first that differs from what it sampled. The output is therefore plain decoding's, token for
token; a good guess only saves the passes over the weights that would have produced it."""

from __future__ import annotations

from collections.abc import Sequence

# n-gram lengths looked up, longest first: one token alone matches too often to be worth drafting.
_SIZES = (4, 3, 2)


class PromptLookup:
    """Prompt-lookup drafts: the tokens that followed the latest earlier occurrence of the text's
    current ending (4, 3 or 2 tokens) in the prompt or in what has been generated so far. Operations
    that copy much of their input (polish, rephrase, a translation's names and numbers) find their
    next tokens there."""

    def __init__(self, tokens: Sequence[int]) -> None:
        self.tokens: list[int] = []
        # n-gram → the position just after its latest occurrence that has a token after it.
        self._after: dict[tuple[int, ...], int] = {}
        self.extend(tokens)

    def extend(self, tokens: Sequence[int]) -> None:
        history, after = self.tokens, self._after
        for token in tokens:
            end = len(history)
            for n in _SIZES:
                if end >= n:
                    after[tuple(history[end - n :])] = end
            history.append(token)

    def draft(self, limit: int) -> list[int]:
        """Up to ``limit`` tokens guessed to come next (none if the ending occurs nowhere else)."""
        if limit < 1:
            return []
        history = self.tokens
        for n in _SIZES:
            at = self._after.get(tuple(history[-n:]))
            if at is not None:
                return history[at : at + limit]
        return []


class DraftLength:
    """How many drafted tokens to verify in the next step, from the acceptance rate and what a step
    costs.

    Verifying k drafts is one batch of 1 + k tokens, which costs ``costs[k]`` one-token steps (the
    table the backend measured on its model, see step_costs.py), and yields on average
    ``(1 - a^(k+1)) / (1 - a)`` tokens, ``a`` being the chance that a drafted token is right given
    that those before it were. The length chosen maximises tokens per unit of time; it is ``least``
    (0: plain decoding) unless a longer draft is expected to pay by ``margin``, so an operation whose
    drafts are mostly wrong (a translation into another script) decodes at plain speed. The
    acceptance rate is learnt from every draft, verified or not: a draft not sent to the model is
    scored against the tokens that the model then produced, so a length of 0 does not stop the
    learning.

    The choice depends on the tokens and on the cost table, which is measured once when the model
    loads and fixed from then on: within a process, a request decodes the same way every time. Under
    greedy decoding the backend allows only batches of 2 and 3 (``least`` 1, ``most`` 2), whose rows
    llama.cpp computes alike, so the text does not depend on the table at all; under sampling another
    table (another process, another machine) may choose other batch sizes, whose kernels differ in
    the logits' last bits, and a near-tie may then fall the other way."""

    def __init__(
        self,
        most: int,
        costs: Sequence[float],
        *,
        least: int = 0,
        prior: float = 0.5,
        weight: float = 4.0,
        margin: float = 0.05,
    ) -> None:
        self.most = min(most, len(costs) - 1)
        self.costs = costs
        self.least = least
        self.margin = margin
        # Acceptance counts with exponential forgetting, starting from ``weight`` pseudo-observations.
        self.right = prior * weight
        self.wrong = (1 - prior) * weight

    @property
    def acceptance(self) -> float:
        return self.right / (self.right + self.wrong)

    def choose(self, available: int) -> int:
        """The draft length to verify, given ``available`` drafted tokens."""
        k_max = min(available, self.most)
        if k_max <= self.least:
            return k_max
        a = min(self.acceptance, 0.999)
        best = self.least
        best_rate = self._rate(best, a) * (1 + self.margin)
        for k in range(best + 1, k_max + 1):
            rate = self._rate(k, a)
            if rate > best_rate:
                best, best_rate = k, rate
        return best

    def _rate(self, k: int, a: float) -> float:
        """Tokens expected per one-token step's time when verifying ``k`` drafts."""
        return (1 - a ** (k + 1)) / (1 - a) / self.costs[k]

    def scored(self, draft: Sequence[int], produced: Sequence[int]) -> None:
        """Learn from a draft and the tokens the model produced in its place (``draft`` may have
        been longer than what was verified: the rest is scored against ``produced`` too)."""
        right = 0
        for guess, token in zip(draft, produced, strict=False):
            if guess != token:
                self._learn(right, 1)
                return
            right += 1
        self._learn(right, 0)  # no miss seen: the rest of the draft is untested

    def _learn(self, right: int, wrong: int) -> None:
        if right + wrong == 0:
            return
        keep = 0.97 ** (right + wrong)
        self.right = self.right * keep + right
        self.wrong = self.wrong * keep + wrong
