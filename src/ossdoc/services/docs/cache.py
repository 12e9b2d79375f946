"""A bounded in-memory cache of finished results: the same operation, parameters, text and model
give the stored result at once instead of running the model again."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ossdoc.services.docs.service import Progress


def cache_key(operation: str, args: dict[str, object], content: str, model: str) -> str:
    material = json.dumps([operation, sorted(args.items()), model, content], ensure_ascii=False, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


class ResultCache:
    """Least-recently-used eviction once the texts held exceed ``max_bytes`` (0 disables it)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[str, Progress] = OrderedDict()

    def get(self, key: str) -> Progress | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: str, result: Progress) -> None:
        cost = len(result.text.encode())
        if cost > self.max_bytes or key in self._entries:
            return
        self._entries[key] = result
        self.size += cost
        while self.size > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.size -= len(evicted.text.encode())
