"""A generation continued from where it stopped (a resumed event stream) ends as if never
interrupted: the same text, the same counts, and the model goes on from its own words."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from ossdoc.backends.llm import Message, ScriptedLLM
from ossdoc.config import Settings
from ossdoc.services.docs.generation import Progress, Resume
from ossdoc.services.docs.operations import OPERATIONS
from ossdoc.services.docs.registry import Args
from ossdoc.services.docs.service import DocumentService

pytestmark = pytest.mark.anyio
WORDS = " ".join(f"word{n}" for n in range(40))


def echo(messages: list[Message]) -> str:
    """The text of the last user message (between <text> tags, or after translate's one-line
    request), upper-cased."""
    users = [m.content for m in messages if m.role == "user"]
    match = re.search(r"<text>\n(.*)\n</text>|^[^\n]*[:：]\n\n(.*)", users[-1], re.S)
    return (match.group(1) or match.group(2) if match else users[-1]).upper()


async def steps(
    docs: DocumentService, content: str, resume: Resume | None = None, stop: int = 0, op: str = "doc/polish"
) -> list[Progress]:
    generation = await docs.start(OPERATIONS[op], content, Args({}), resume)
    seen = []
    try:
        async for step in generation:
            seen.append(step)
            if stop and len(seen) == stop:
                break
    finally:
        await generation.aclose()
    assert docs.admitted == 0
    return seen


async def test_a_stopped_generation_continues_to_the_same_end() -> None:
    llm = ScriptedLLM(echo)
    docs = DocumentService(llm, Settings(cache_bytes=0))
    whole = (await steps(docs, WORDS))[-1]
    part = await steps(docs, WORDS, stop=10)
    assert llm.cancelled == 1
    resume = part[-1].resume
    assert resume is not None and resume.tokens[1] == part[-1].output_tokens
    rest = await steps(docs, WORDS, Resume.loads(resume.dumps()))
    assert rest[-1] == whole
    assert rest[0].text.startswith(part[-1].text)  # it goes on, never back
    assert llm.calls[-1][-1] == Message("assistant", resume.raw)  # the model continues its words


async def test_a_summary_continued_ends_at_the_same_sentence() -> None:
    # It ends at the first sentence end past the length it is asked for, counted from its start.
    llm = ScriptedLLM(echo)
    docs = DocumentService(llm, Settings(cache_bytes=0))
    content = " ".join(f"Sentence{n} word{n}a word{n}b word{n}c." for n in range(60))
    whole = await steps(docs, content, op="doc/summarize")
    assert len(whole[-1].text) < len(content) / 2 and whole[-1].text.endswith(".")
    part = await steps(docs, content, stop=len(whole) - 4, op="doc/summarize")
    resume = part[-1].resume
    assert resume is not None
    rest = await steps(docs, content, resume, op="doc/summarize")
    assert rest[-1] == whole[-1]


async def test_a_long_document_continues_from_the_piece_it_stopped_in() -> None:
    llm = ScriptedLLM(echo)
    llm._info = replace(llm.info, context_size=400)
    settings = Settings(context_size=400, max_output_tokens=400, cache_bytes=0)
    docs = DocumentService(llm, settings)
    content = "\n\n".join(f"Paragraph {n} says something about topic {n}." for n in range(60))
    whole = await steps(docs, content)
    assert whole[-1].chunks > 1
    middle = next(n for n, step in enumerate(whole) if step.resume is not None and step.resume.piece == 2)
    part = await steps(docs, content, stop=middle + 3)
    resume = part[-1].resume
    assert resume is not None and resume.piece >= 2 and resume.prefix
    rest = await steps(docs, content, resume)
    assert rest[-1] == whole[-1]


async def test_a_resume_that_does_not_fit_the_plan_starts_afresh() -> None:
    docs = DocumentService(ScriptedLLM(echo), Settings(cache_bytes=0))
    generation = await docs.start(OPERATIONS["doc/polish"], WORDS, Args({}), Resume(piece=5, raw="X"))
    try:
        assert not generation.resumed
        assert (await generation.result()).text == WORDS.upper()
    finally:
        await generation.aclose()
