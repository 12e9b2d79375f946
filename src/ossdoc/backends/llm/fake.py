"""A scripted LLM backend: deterministic replies, for exact-byte wire tests and fast service tests."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable

from ossdoc.backends.llm.base import Chunk, Message, ModelInfo, Sampling

Script = Callable[[list[Message]], str]
_PIECE = re.compile(r"\S+\s*|\s+")


def shout(messages: list[Message]) -> str:
    """The default script: the last user message, upper-cased."""
    users = [m.content for m in messages if m.role == "user"]
    return users[-1].upper() if users else ""


def in_turn(*replies: str) -> Script:
    """A script answering its n-th generation with ``replies[n]`` (then the last one again): a
    first answer in the wrong language, say, and the one after a restart."""
    calls = 0

    def script(messages: list[Message]) -> str:
        nonlocal calls
        calls += 1
        return replies[min(calls, len(replies)) - 1]

    return script


def pieces(text: str) -> list[str]:
    """Tokens of the fake: each word with the whitespace after it."""
    return _PIECE.findall(text)


class ScriptedLLM:
    def __init__(self, script: Script = shout, *, token_delay: float = 0.0, context_size: int = 8192) -> None:
        self.script = script
        self.token_delay = token_delay
        self._info = ModelInfo("scripted", context_size)
        self.calls: list[list[Message]] = []
        self.samplings: list[Sampling] = []  # of each call
        self.cancelled = 0  # generations closed before their end
        self.finished = 0
        self.last_cancelled = False
        # Same meaning as LocalLlama's; a closed async generator cannot yield, so it stays 0.
        self.tokens_after_cancel = 0

    @property
    def info(self) -> ModelInfo:
        return self._info

    async def count_tokens(self, text: str) -> int:
        return len(pieces(text))

    async def generate(self, messages: list[Message], sampling: Sampling) -> AsyncIterator[Chunk]:
        self.calls.append(messages)
        self.samplings.append(sampling)
        self.last_cancelled = False
        prompt = sum(len(pieces(m.content)) for m in messages)
        if messages and messages[-1].role == "assistant":  # a prefill: the reply goes on from it
            prefill, whole = messages[-1].content, self.script(messages[:-1])
            reply = pieces(whole[len(prefill) :] if whole.startswith(prefill) else whole)[
                : sampling.max_tokens
            ]
        else:
            reply = pieces(self.script(messages))[: sampling.max_tokens]
        try:
            for count, piece in enumerate(reply, 1):
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
                yield Chunk(piece, prompt, count)
            reason = "length" if len(reply) == sampling.max_tokens else "stop"
            yield Chunk("", prompt, len(reply), reason)
            self.finished += 1
        except (GeneratorExit, asyncio.CancelledError):
            self.cancelled += 1
            self.last_cancelled = True
            raise

    async def close(self) -> None:
        return None
