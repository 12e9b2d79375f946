"""The LLM backend interface: chat messages in, a cancellable stream of text deltas out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant
    content: str


@dataclass(frozen=True)
class Sampling:
    max_tokens: int = 1024
    temperature: float = 0.2
    top_p: float = 0.9
    repeat_penalty: float = 1.05
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # Subtracted from the logit of every token spelt in Latin letters (an English word or a piece of
    # one): keeps a translation into Chinese or Japanese from leaving words in English, which a
    # small model does often. Backends that cannot apply it ignore it. 0: off.
    latin_penalty: float = 0.0
    # The same against the tokens holding Chinese, Japanese or Korean characters: keeps a translation
    # into English or French from leaving words of its Chinese source untranslated. 0: off.
    cjk_penalty: float = 0.0


@dataclass(frozen=True)
class Chunk:
    """One step of a generation.

    ``text`` is the new text since the previous chunk (may be empty). ``input_tokens`` is the prompt's
    token count, known from the first chunk on; ``output_tokens`` counts tokens generated so far.
    The last chunk has ``finish_reason`` set: "stop" (end of text or a stop string) or "length"."""

    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str | None = None


@dataclass(frozen=True)
class ModelInfo:
    name: str
    context_size: int
    extra: dict[str, str] = field(default_factory=dict)


class LLMBackend(Protocol):
    @property
    def info(self) -> ModelInfo: ...

    async def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the model's tokenizer (for budgeting long documents)."""

    def generate(self, messages: list[Message], sampling: Sampling) -> AsyncIterator[Chunk]:
        """Stream a chat completion. A trailing ``assistant`` message is a prefill: the reply
        continues it (its text is not repeated in the chunks).

        Closing the iterator early (``aclose()``, or the consuming task being cancelled) must stop
        the generation promptly (well under a second) and free the backend for the next request."""

    async def close(self) -> None: ...
