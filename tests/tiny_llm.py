"""The project's ScriptedLLM with a fixed reply, plus what some service tests watch: how many
generations run at once, the sampling asked for, and a failure in the middle of a reply; and
``collect``, every step of a generation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

from ossdoc.backends.llm.base import Chunk, Message, Sampling
from ossdoc.backends.llm.fake import ScriptedLLM
from ossdoc.services.docs import Generation, Progress


class TinyLLM(ScriptedLLM):
    def __init__(
        self,
        reply: str = "Hello big world.",
        *,
        delay: float = 0.0,
        context_size: int = 8192,
        fail_after: int | None = None,
    ) -> None:
        super().__init__(lambda messages: reply, token_delay=delay, context_size=context_size)
        self.fail_after = fail_after
        self.samplings: list[Sampling] = []
        self.running = 0

    async def generate(self, messages: list[Message], sampling: Sampling) -> AsyncIterator[Chunk]:
        self.samplings.append(sampling)
        self.running += 1
        try:
            async with aclosing(super().generate(messages, sampling)) as chunks:  # type: ignore[type-var]
                async for chunk in chunks:
                    if self.fail_after is not None and chunk.output_tokens > self.fail_after:
                        raise RuntimeError("the model fell over")
                    yield chunk
        finally:
            self.running -= 1


async def collect(generation: Generation) -> list[Progress]:
    try:
        return [p async for p in generation]
    finally:
        await generation.aclose()
