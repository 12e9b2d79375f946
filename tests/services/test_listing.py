from __future__ import annotations

import pytest

from ossdoc.backends.storage import MemoryStorage
from ossdoc.backends.storage.base import Bucket, ObjectMeta
from ossdoc.services.listing import Listing, list_page

pytestmark = pytest.mark.anyio
KEYS = ["a", "b/1", "b/2", "b/c/3", "c", "d/", "d/x", "e/1", "中/1", "中文"]


async def _store() -> MemoryStorage:
    store = MemoryStorage()
    await store.create_bucket(Bucket("b1", 1.0))
    for key in KEYS:

        async def body() -> object:
            yield b""

        blob = await store.stage(body())  # type: ignore[arg-type]
        await store.commit_object(
            "b1", key, segments=[blob], etag="E", crc64=0, object_type="Normal", meta=ObjectMeta()
        )
    return store


async def _all_pages(store: MemoryStorage, prefix: str, delimiter: str, max_keys: int) -> list[Listing]:
    pages, marker = [], ""
    while True:
        page = await list_page(store, "b1", prefix, delimiter, marker, max_keys)
        pages.append(page)
        if not page.truncated:
            return pages
        marker = page.next_marker


async def test_delimiter_groups_common_prefixes() -> None:
    page = await list_page(await _store(), "b1", "", "/", "", 100)
    assert [o.key for o in page.objects] == ["a", "c", "中文"]
    assert page.prefixes == ["b/", "d/", "e/", "中/"]
    assert not page.truncated


async def test_prefix_and_delimiter() -> None:
    page = await list_page(await _store(), "b1", "b/", "/", "", 100)
    assert [o.key for o in page.objects] == ["b/1", "b/2"]
    assert page.prefixes == ["b/c/"]


@pytest.mark.parametrize("max_keys", [1, 2, 3, 7])
async def test_paging_with_delimiter_lists_each_entry_once(max_keys: int) -> None:
    pages = await _all_pages(await _store(), "", "/", max_keys)
    entries = [e for p in pages for e in [*(o.key for o in p.objects), *p.prefixes]]
    assert sorted(entries) == sorted(["a", "c", "中文", "b/", "d/", "e/", "中/"])
    assert len(entries) == 7
    assert all(p.count <= max_keys for p in pages)
    assert all(p.truncated for p in pages[:-1])


@pytest.mark.parametrize("max_keys", [1, 3, 10, 11])
async def test_paging_without_delimiter(max_keys: int) -> None:
    pages = await _all_pages(await _store(), "", "", max_keys)
    keys = [o.key for p in pages for o in p.objects]
    assert keys == sorted(KEYS, key=lambda k: k.encode())


async def test_zero_max_keys() -> None:
    page = await list_page(await _store(), "b1", "", "", "", 0)
    assert page.count == 0
    assert page.truncated
