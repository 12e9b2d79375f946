from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from ossdoc.backends.llm import ScriptedLLM
from ossdoc.backends.state.redis_cache import RedisCache
from ossdoc.backends.state.redis_client import RedisState
from ossdoc.config import Settings
from ossdoc.services.docs.cache import Cache, ResultCache
from ossdoc.services.docs.generation import Progress
from ossdoc.services.docs.operations import OPERATIONS
from ossdoc.services.docs.registry import Args
from ossdoc.services.docs.service import DocumentService

pytestmark = pytest.mark.anyio
TRANSLATE = OPERATIONS["doc/translate"]


async def final(docs: DocumentService, text: str, language: str = "en_US") -> Progress:
    generation = await docs.start(TRANSLATE, text, Args({"language": language}))
    try:
        return [step async for step in generation][-1]
    finally:
        await generation.aclose()


async def test_a_repeat_is_answered_from_the_cache() -> None:
    llm = ScriptedLLM(lambda messages: "translated text")
    docs = DocumentService(llm, Settings())
    first = await final(docs, "bonjour")
    again = await final(docs, "bonjour")
    assert again == first
    assert len(llm.calls) == 1
    await final(docs, "bonjour", "fr_FR")  # other parameters: a miss
    await final(docs, "salut")  # other text: a miss
    assert len(llm.calls) == 3
    assert docs.admitted == 0


async def test_cancelled_results_are_not_kept_and_the_cache_can_be_off() -> None:
    llm = ScriptedLLM(lambda messages: "many words " * 50)
    docs = DocumentService(llm, Settings())
    generation = await docs.start(TRANSLATE, "text", Args({"language": "en_US"}))
    await generation.__anext__()
    await generation.aclose()
    await final(docs, "text")
    assert len(llm.calls) == 2
    off = DocumentService(llm, Settings(cache_bytes=0))
    await final(off, "text")
    await final(off, "text")
    assert len(llm.calls) == 4


@pytest.fixture(params=["sqlite", "redis"])
def small_cache(request: pytest.FixtureRequest) -> Iterator[Cache]:
    """A 10-byte cache: in memory (SQLite), or in Redis as replicas share it."""
    if request.param == "sqlite":
        yield ResultCache(max_bytes=10)
        return
    state = RedisState(
        request.getfixturevalue("redis_server").url, f"test-{secrets.token_hex(4)}:", beat=False
    )
    yield RedisCache(state, max_bytes=10)
    state.close()


def test_least_recently_used_entries_go_first(small_cache: Cache) -> None:
    cache = small_cache
    cache.put("a", Progress("aaaa", "stop", 1, 1))
    cache.put("b", Progress("bbbb", "stop", 1, 1))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", Progress("cccc", "stop", 1, 1))
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None
    assert cache.size == 8
    cache.put("huge", Progress("x" * 11, "stop", 1, 1))
    assert cache.get("huge") is None


def test_a_cache_file_keeps_results_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    first = ResultCache(1000, path)
    first.put("a", Progress("first result", "stop", 10, 2, 3))
    first.put("b", Progress("second", "stop", 5, 1))
    first.get("a")  # a is now the most recently used
    first.close()
    again = ResultCache(1000, path)
    assert again.get("b") == Progress("second", "stop", 5, 1)
    assert again.get("a") == Progress("first result", "stop", 10, 2, 3)  # the most recent again
    assert again.size == len("first result") + len("second")
    again.close()
    smaller = ResultCache(len("first result"), path)  # a lower limit evicts the least recent
    assert smaller.get("b") is None and smaller.get("a") is not None
    smaller.close()
    assert ResultCache(1000, path).get("b") is None  # evicted from the file too


def test_an_unreadable_cache_file_is_started_afresh(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    cache = ResultCache(1000, path)
    cache.put("k", Progress("kept", "stop", 1, 1))
    cache.close()
    assert ResultCache(1000, path).get("k") == Progress("kept", "stop", 1, 1)


async def test_the_service_answers_from_a_cache_file_after_a_restart(tmp_path: Path) -> None:
    llm = ScriptedLLM(lambda messages: "translated text")
    cache = ResultCache(1000, tmp_path / "cache.sqlite3")
    first = await final(DocumentService(llm, Settings(), cache=cache), "bonjour")
    cache.close()
    cache = ResultCache(1000, tmp_path / "cache.sqlite3")
    assert await final(DocumentService(llm, Settings(), cache=cache), "bonjour") == first
    assert len(llm.calls) == 1
    cache.close()
