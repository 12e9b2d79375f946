"""Token counts of texts, each asked of the model backend once while it is remembered.

A count is a round trip to the model server, and a request needs several before its first event
(the content, the prompt without it, the prompt with it). Operations' instructions repeat from
request to request, and a request asks for its content's count more than once: remembered, they
cost nothing the second time, and asked together, the request waits for one round trip."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from ossdoc.backends.llm.base import LLMBackend


class TokenCounter:
    def __init__(self, backend: LLMBackend, max_chars: int = 4 << 20) -> None:
        """``max_chars``: the texts remembered, in characters (least recently used go first)."""
        self.backend = backend
        self.max_chars = max_chars
        self._known: OrderedDict[str, int] = OrderedDict()
        self._chars = 0
        self._asking: dict[str, asyncio.Future[int]] = {}

    async def count(self, text: str) -> int:
        known = self._known.get(text)
        if known is not None:
            self._known.move_to_end(text)
            return known
        asking = self._asking.get(text)
        if asking is None:
            asking = self._asking[text] = asyncio.ensure_future(self.backend.count_tokens(text))
            asking.add_done_callback(lambda done: self._answered(text, done))
        # Shielded: a request that goes away must not cancel the count for the others waiting on it.
        return await asyncio.shield(asking)

    def _answered(self, text: str, done: asyncio.Future[int]) -> None:
        del self._asking[text]
        if done.cancelled() or done.exception() is not None:
            return  # each waiter gets the error; the next request asks again
        if len(text) > self.max_chars:
            return
        self._known[text] = done.result()
        self._chars += len(text)
        while self._chars > self.max_chars:
            old, _ = self._known.popitem(last=False)
            self._chars -= len(old)
