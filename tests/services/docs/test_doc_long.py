"""Documents longer than the model's context: pieces, map-reduce, tail; never silent truncation."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace

import anyio
import pytest

from ossdoc.backends.llm import Chunk, Message, Sampling, ScriptedLLM
from ossdoc.backends.llm.fake import pieces
from ossdoc.config import Settings
from ossdoc.services.docs.generation import Progress
from ossdoc.services.docs.language import length_target
from ossdoc.services.docs.operations import OPERATIONS, SECTIONS_SHARE, SUMMARY_LENGTH
from ossdoc.services.docs.registry import Args
from ossdoc.services.docs.service import ASKED_SLACK, SECTIONS, DocumentService

pytestmark = pytest.mark.anyio


def document_text(messages: list[Message]) -> str:
    """The text in the prompt: between <text> tags, or after translate's one-line request."""
    match = re.search(r"<text>\n(.*)\n</text>|^[^\n]*[:：]\n\n(.*)", messages[-1].content, re.S)
    assert match, messages[-1].content
    return match.group(1) or match.group(2)


def paragraphs(count: int) -> str:
    return "\n\n".join(
        f"Paragraph {n} says something about topic {n}. It has two sentences." for n in range(count)
    )


async def run(llm: ScriptedLLM, op: str, content: str, args: Args | None = None) -> list[Progress]:
    llm._info = replace(llm.info, context_size=400)
    docs = DocumentService(llm, Settings(context_size=400, max_output_tokens=400))
    generation = await docs.start(OPERATIONS[op], content, args or Args({"language": "fr_FR"}))
    try:
        return [step async for step in generation]
    finally:
        await generation.aclose()


async def test_pieces_account_for_every_paragraph_exactly() -> None:
    llm = ScriptedLLM(lambda messages: document_text(messages).upper())
    content = paragraphs(60)  # about 660 words: far beyond a 400-token context
    steps = await run(llm, "doc/translate", content)
    final = steps[-1]
    assert final.text == content.upper()
    assert final.finish_reason == "stop"
    assert final.chunks == len(llm.calls) == 60  # one paragraph a request: none merged or dropped
    assert all("\n\n" not in document_text(call).strip() for call in llm.calls)
    # One stream across pieces: every step extends the previous one.
    assert all(b.text.startswith(a.text) for a, b in itertools.pairwise(steps))
    assert [s.output_tokens for s in steps] == sorted(s.output_tokens for s in steps)
    assert all(s.finish_reason is None for s in steps[:-1])


async def test_the_pieces_summaries_in_order_are_the_summary() -> None:
    llm = ScriptedLLM(lambda messages: document_text(messages).split(".")[0] + ".")
    content = paragraphs(60)
    steps = await run(llm, "doc/summarize", content, Args())
    final = steps[-1]
    assert 1 < final.chunks <= SECTIONS and len(llm.calls) == final.chunks  # no second pass
    firsts = [document_text(call).split(".")[0] + "." for call in llm.calls]
    assert final.text == "\n\n".join(firsts) and firsts[0] == "Paragraph 0 says something about topic 0."
    assert all(b.text.startswith(a.text) for a, b in itertools.pairwise(steps))  # streamed as they come
    # Each piece asks for its share of SECTIONS_SHARE of what one summary of the whole would be
    # (0.15 of its words), in proportion to its length.
    asked = [int(re.findall(r"about (\d+) words", call[0].content)[0]) for call in llm.calls]
    whole = 0.15 * len(re.findall("[A-Za-z]+", content))
    assert sum(asked) == pytest.approx(SECTIONS_SHARE * whole, abs=len(asked))
    sizes = [len(document_text(call)) for call in llm.calls]
    least = SUMMARY_LENGTH[1] // 2  # words asked of a piece at the least
    assert asked == [max(least, round(SECTIONS_SHARE * whole * size / sum(sizes))) for size in sizes]


async def test_a_summary_in_one_piece_is_asked_for_the_whole_length() -> None:
    llm = ScriptedLLM(lambda messages: document_text(messages).split(".")[0] + ".")
    content = paragraphs(60)
    docs = DocumentService(llm, Settings(max_output_tokens=400))  # an 8192-token context holds it
    result = await (await docs.start(OPERATIONS["doc/summarize"], content, Args())).result()
    assert result.chunks == len(llm.calls) == 1
    asked = int(re.findall(r"about (\d+) words", llm.calls[0][0].content)[0])
    assert asked == round(0.15 * len(re.findall("[A-Za-z]+", content)))  # no SECTIONS_SHARE


def asked_tokens(messages: list[Message]) -> int:
    """The length the prompt asks for, in the text's tokens (the fake's: words and spaces)."""
    text = document_text(messages)
    asked = int(re.findall(r"about (\d+) words", messages[0].content)[0])
    _, size, _ = length_target(text, *SUMMARY_LENGTH)
    return math.ceil(len(pieces(text)) * asked / size)


async def test_a_piece_that_runs_on_ends_with_the_sentence_that_reaches_its_length() -> None:
    # A small model asked for 40 words of a news article may copy it on to the reply budget.
    llm = ScriptedLLM(document_text)
    steps = await run(llm, "doc/summarize", paragraphs(60), Args())
    final = steps[-1]
    assert 1 < final.chunks == len(llm.calls) <= SECTIONS
    expected = []
    for call in llm.calls:
        sentences = re.findall(r"[^.]+\.\s*", document_text(call))
        ends = itertools.accumulate(len(pieces(sentence)) for sentence in sentences)
        enough = next(n for n, tokens in enumerate(ends, 1) if tokens >= asked_tokens(call))
        assert enough < len(sentences)  # each piece is cut short of its end
        expected.append("".join(sentences[:enough]).strip())
    assert final.text == "\n\n".join(expected)
    assert final.finish_reason == "stop" and llm.cancelled == len(llm.calls)  # each stream closed early
    assert all(b.text.startswith(a.text) for a, b in itertools.pairwise(steps))


async def test_a_single_summary_that_runs_on_ends_with_the_sentence_that_reaches_its_length() -> None:
    # 6 of the 13 public news articles: the 0.5B copied the article on until the reply budget cut it.
    llm = ScriptedLLM(document_text)
    steps = await run(llm, "doc/summarize", paragraphs(6), Args())
    [call] = llm.calls
    sentences = re.findall(r"[^.]+\.\s*", document_text(call))
    ends = itertools.accumulate(len(pieces(sentence)) for sentence in sentences)
    enough = next(n for n, tokens in enumerate(ends, 1) if tokens >= asked_tokens(call))
    assert enough < len(sentences)
    assert steps[-1].text == "".join(sentences[:enough]).strip()
    assert steps[-1].finish_reason == "stop" and steps[-1].chunks == 1 and llm.cancelled == 1


class ByCharacter(ScriptedLLM):
    """Streams its reply a character a token: a number's full stop arrives before its decimals."""

    async def generate(self, messages: list[Message], sampling: Sampling) -> AsyncIterator[Chunk]:
        self.calls.append(messages)
        reply = self.script(messages)
        try:
            for count, character in enumerate(reply, 1):
                yield Chunk(character, 100, count)
            yield Chunk("", 100, len(reply), "stop")
        except GeneratorExit:
            self.cancelled += 1
            raise


async def test_a_full_stop_inside_a_number_or_a_word_does_not_end_a_piece() -> None:
    reply = "Prices rose by 2.5 percent (e.g. rents) in a year. Wages rose by 3.5. Rents fell."
    llm = ByCharacter(lambda messages: reply)
    steps = await run(llm, "doc/summarize", paragraphs(60), Args())
    assert all(asked_tokens(call) <= reply.index("2.5") for call in llm.calls)
    one = "Prices rose by 2.5 percent (e.g. rents) in a year."
    assert steps[-1].text == "\n\n".join([one] * len(llm.calls))
    assert steps[-1].finish_reason == "stop" and llm.cancelled == len(llm.calls)
    assert all(b.text.startswith(a.text) for a, b in itertools.pairwise(steps))


@pytest.mark.parametrize(
    "first",
    [
        "Talks in London on Monday with Mr. Smith and Dr. Lee ended well.",
        "Talks in London on Monday with U.S. President Biden ended well.",
        "Talks in London on Monday, e.g. The Hague's, ended well.",
        "Talks in London on Monday about J. K. Rowling ended well.",
        "Talks in London on Monday had points:\n1. The first one ended well.",
        "Les pourparlers de lundi à Paris avec M. Dupont ont bien fini.",
    ],
)
async def test_a_full_stop_after_an_abbreviation_does_not_end_a_piece(first: str) -> None:
    reply = first + " More text follows. And more."
    llm = ByCharacter(lambda messages: reply)
    steps = await run(llm, "doc/summarize", paragraphs(60), Args())
    assert all(asked_tokens(call) <= first.index(".") for call in llm.calls)
    assert steps[-1].text == "\n\n".join([first] * len(llm.calls))
    assert steps[-1].finish_reason == "stop" and llm.cancelled == len(llm.calls)
    assert all(b.text.startswith(a.text) for a, b in itertools.pairwise(steps))


async def test_beyond_a_few_pieces_the_summaries_are_summarized_again() -> None:
    llm = ScriptedLLM(lambda messages: document_text(messages).split(".")[0] + ".")
    steps = await run(llm, "doc/summarize", paragraphs(160), Args())
    final = steps[-1]
    assert final.chunks > SECTIONS
    assert len(llm.calls) > final.chunks  # every piece summarized, then the summaries
    assert final.text.startswith("Paragraph 0 says something") and len(final.text) < 400
    # The last pass reduces the summaries: its prompt holds them, not the document.
    assert document_text(llm.calls[-1]).startswith("Paragraph")
    assert "It has two sentences" not in document_text(llm.calls[-1])


async def test_continue_uses_the_tail() -> None:
    llm = ScriptedLLM(lambda messages: "and then it ended.")
    content = paragraphs(60)
    steps = await run(llm, "doc/continue", content, Args())
    prompt = document_text(llm.calls[0])
    assert content.endswith(prompt)
    assert "Paragraph 59" in prompt and "Paragraph 0 " not in prompt
    assert steps[-1].text == "and then it ended."


async def test_short_documents_are_one_piece() -> None:
    llm = ScriptedLLM(lambda messages: document_text(messages))
    steps = await run(llm, "doc/polish", "Short text.", Args())
    assert (steps[-1].text, steps[-1].chunks, len(llm.calls)) == ("Short text.", 1, 1)


async def test_a_long_document_lets_other_requests_through_between_pieces() -> None:
    llm = ScriptedLLM(lambda messages: document_text(messages).upper(), token_delay=0.001)
    llm._info = replace(llm.info, context_size=400)
    docs = DocumentService(llm, Settings(context_size=400, max_output_tokens=400))
    finished: list[str] = []

    async def run_one(name: str, content: str) -> None:
        generation = await docs.start(OPERATIONS["doc/translate"], content, Args({"language": "fr_FR"}))
        try:
            async for step in generation:
                if step.finish_reason is not None:
                    finished.append(name)
        finally:
            await generation.aclose()

    async with anyio.create_task_group() as group:
        group.start_soon(run_one, "long", paragraphs(60))
        while not llm.calls:  # the long document holds the model for its first piece
            await anyio.sleep(0.001)
        group.start_soon(run_one, "short", "A short text.")
    assert finished == ["short", "long"]
    assert len(llm.calls) > 3


async def test_a_paragraph_answered_with_blank_lines_stays_one_paragraph() -> None:
    # A small model sometimes breaks one paragraph's translation with a blank line.
    llm = ScriptedLLM(lambda messages: document_text(messages).upper().replace(". ", ".\n\n", 1))
    content = paragraphs(60)
    steps = await run(llm, "doc/translate", content)
    final = steps[-1].text
    assert len(final.split("\n\n")) == 60
    assert final == content.upper().replace(". ", ".\n")  # each paragraph's break kept as a line break
    assert all(b.text.startswith(a.text) for a, b in itertools.pairwise(steps))


class Counting(ScriptedLLM):
    """Records how many generations run at once."""

    def __init__(self) -> None:
        super().__init__(lambda messages: document_text(messages).split(".")[0] + ".", token_delay=0.002)
        self._info = replace(self.info, context_size=400)
        self.running = self.most = 0

    async def generate(self, messages: list[Message], sampling: Sampling) -> AsyncIterator[Chunk]:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            async with aclosing(super().generate(messages, sampling)) as chunks:  # type: ignore[type-var]
                async for chunk in chunks:
                    yield chunk
        finally:
            self.running -= 1


@pytest.mark.parametrize("slots", [1, 3])
async def test_pieces_are_summarized_at_once_only_where_there_are_slots(slots: int) -> None:
    llm = Counting()
    docs = DocumentService(llm, Settings(context_size=400, max_output_tokens=400), slots=slots)
    result = await (await docs.start(OPERATIONS["doc/summarize"], paragraphs(60), Args())).result()
    assert llm.most == slots
    assert result.chunks == len(llm.calls) > slots
    assert result.text.startswith("Paragraph 0 says something about topic 0.\n\n")


class Budgets(ScriptedLLM):
    """Records each generation's reply budget."""

    def __init__(self) -> None:
        super().__init__(lambda messages: document_text(messages).split(".")[0] + ".")
        self.budgets: list[int] = []

    async def generate(self, messages: list[Message], sampling: Sampling) -> AsyncIterator[Chunk]:
        self.budgets.append(sampling.max_tokens)
        async with aclosing(super().generate(messages, sampling)) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                yield chunk


def asked_budget(messages: list[Message]) -> int:
    """Twice the length the prompt asks for, in the text's tokens (the fake's: words and spaces), or
    output_ratio of the text if that is more."""
    text = document_text(messages)
    asked = int(re.findall(r"about (\d+) words", messages[0].content)[0])
    _, size, _ = length_target(text, *SUMMARY_LENGTH)
    tokens = len(pieces(text))
    return max(64, int(0.4 * tokens), math.ceil(tokens * asked / size * ASKED_SLACK))


async def test_each_piece_of_a_summary_keeps_the_budget_of_its_length() -> None:
    llm = Budgets()
    llm._info = replace(llm.info, context_size=2000)
    docs = DocumentService(llm, Settings(context_size=2000, max_output_tokens=2000))
    await (await docs.start(OPERATIONS["doc/summarize"], paragraphs(300), Args())).result()
    assert 1 < len(llm.calls) <= SECTIONS
    # output_ratio of the piece: more than twice its share of the whole's summary (300 words).
    sizes = [len(pieces(document_text(call))) for call in llm.calls]
    assert llm.budgets == [int(0.4 * size) for size in sizes]
    assert llm.budgets == [asked_budget(call) for call in llm.calls]


async def test_a_reduce_step_has_the_budget_of_what_it_is_asked() -> None:
    llm = Budgets()
    llm._info = replace(llm.info, context_size=2000)
    docs = DocumentService(llm, Settings(context_size=2000, max_output_tokens=2000))
    await (await docs.start(OPERATIONS["doc/summarize"], paragraphs(1200), Args())).result()
    # The map pieces hold the paragraphs, the reduce steps only their summaries.
    map_calls = sum("It has two sentences" in document_text(call) for call in llm.calls)
    assert 0 < map_calls < len(llm.calls)
    # The map pieces of a reduce are asked for output_ratio of themselves at most.
    assert all(
        b == max(64, int(0.4 * len(pieces(document_text(c)))))
        for b, c in zip(llm.budgets[:map_calls], llm.calls[:map_calls], strict=True)
    )
    last = llm.calls[map_calls:]
    assert llm.budgets[map_calls:] == [asked_budget(call) for call in last]
    # Summaries shorter than the whole's target (300 words) are asked for no more than their own
    # length, and have room for it: output_ratio of them would cut the reply.
    assert all(
        f"about {length_target(document_text(c), *SUMMARY_LENGTH)[1]} words" in c[0].content for c in last
    )
    assert all(
        b > 0.4 * len(pieces(document_text(c))) for b, c in zip(llm.budgets[map_calls:], last, strict=True)
    )
