"""What the document service hands out: an admitted generation, its steps of progress, and where a
generation has come, to continue it (a resumed event stream)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field

from ossdoc.observability import metrics
from ossdoc.services.docs.admission import Admission


@dataclass(frozen=True)
class Resume:
    """Where a generation has come, to continue it later (a resumed event stream): in piece
    ``piece`` of its plan, after the finished pieces' text ``prefix`` and tokens ``used``, with
    ``raw`` generated in that piece for ``tokens``."""

    piece: int = 0
    prefix: str = ""
    raw: str = ""
    used: tuple[int, int] = (0, 0)
    tokens: tuple[int, int] = (0, 0)

    def dumps(self) -> str:
        return json.dumps([self.piece, self.prefix, self.raw, self.used, self.tokens], ensure_ascii=False)

    @classmethod
    def loads(cls, text: str) -> Resume | None:
        try:
            piece, prefix, raw, used, tokens = json.loads(text)
            return cls(
                int(piece),
                str(prefix),
                str(raw),
                (int(used[0]), int(used[1])),
                (int(tokens[0]), int(tokens[1])),
            )
        except (ValueError, TypeError, IndexError):
            return None


@dataclass(frozen=True)
class Progress:
    text: str  # everything generated so far, cleaned; each Progress extends the previous one
    finish_reason: str | None  # None while generating, then "stop" or "length"
    input_tokens: int
    output_tokens: int
    chunks: int = 1  # pieces a long document was processed in
    restarts: int = 0  # generations restarted by the language guard
    # How to continue from here (None where it cannot be: the map phase of a long summary).
    resume: Resume | None = field(default=None, compare=False, repr=False)


class Ticket:
    """A place in the queue, given back exactly once."""

    def __init__(self, admission: Admission | None) -> None:
        self._admission = admission  # None: a result that took no place (from the cache)

    def release(self) -> None:
        if self._admission is not None:
            self._admission.release()
            metrics.get().queue_depth.dec()
            self._admission = None


class Generation:
    """An admitted request: iterate it for Progress; ``aclose()`` cancels the generation (closing the
    backend's stream) and frees its place, also when it was never iterated."""

    def __init__(
        self, steps: AsyncGenerator[Progress, None], ticket: Ticket, *, resumed: bool = False
    ) -> None:
        self._steps = steps
        self._ticket = ticket
        self.resumed = resumed  # it continues an earlier generation (a Resume was followed)

    def __aiter__(self) -> AsyncIterator[Progress]:
        return self

    async def __anext__(self) -> Progress:
        return await self._steps.__anext__()

    async def aclose(self) -> None:
        try:
            await self._steps.aclose()
        finally:
            self._ticket.release()

    async def result(self, watch: Callable[[Progress], None] | None = None) -> Progress:
        """Run to the end (closing, also when interrupted) and return the last step; ``watch`` sees
        every step."""
        last: Progress | None = None
        try:
            async for progress in self:
                last = progress
                if watch is not None:
                    watch(progress)
        finally:
            await self.aclose()
        assert last is not None and last.finish_reason is not None
        return last


async def replay(result: Progress) -> AsyncGenerator[Progress, None]:
    yield result
