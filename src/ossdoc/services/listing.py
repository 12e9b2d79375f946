"""ListObjects/ListObjectsV2 paging over the backend: delimiters, markers, truncation."""

from __future__ import annotations

from dataclasses import dataclass, field

from ossdoc.backends.storage.base import ObjectRecord, StorageBackend

# No UTF-8 string contains the byte 0xFF, so prefix + 0xFF sorts after every key under prefix and
# before every other key that sorts after prefix.
_PAST = b"\xff"


@dataclass
class Listing:
    objects: list[ObjectRecord] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    next_marker: str = ""

    @property
    def count(self) -> int:
        return len(self.objects) + len(self.prefixes)


async def list_page(
    backend: StorageBackend, bucket: str, prefix: str, delimiter: str, marker: str, max_keys: int
) -> Listing:
    """One page of up to ``max_keys`` entries (objects and common prefixes) after ``marker``."""
    page = Listing()
    marker_bytes = marker.encode()
    after = marker_bytes
    while True:
        wanted = max_keys - page.count + 1
        batch = await backend.list_objects(bucket, prefix, after, wanted)
        if not batch:
            return page
        for record in batch:
            if page.count == max_keys:
                page.truncated = True
                return page
            common = _common_prefix(record.key, prefix, delimiter)
            if common is None:
                page.objects.append(record)
                page.next_marker = record.key
                after = record.key.encode()
                continue
            common_bytes = common.encode()
            # A marker equal to a common prefix (a previous page's NextMarker) means it was listed.
            if common_bytes > marker_bytes:
                page.prefixes.append(common)
                page.next_marker = common
            after = common_bytes + _PAST
            break  # re-query past everything under this prefix
        else:
            if len(batch) < wanted:
                return page  # the backend had no more rows


def _common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    index = key.find(delimiter, len(prefix))
    if index < 0:
        return None
    return key[: index + len(delimiter)]
