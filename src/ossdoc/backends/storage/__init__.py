"""Storage backends: where buckets, objects and multipart uploads live."""

from __future__ import annotations

from ossdoc.backends.storage.base import (
    Bucket,
    Check,
    ObjectMeta,
    ObjectRecord,
    Part,
    Segment,
    StagedBlob,
    StorageBackend,
    Upload,
)
from ossdoc.backends.storage.local import LocalStorage
from ossdoc.backends.storage.memory import MemoryStorage

__all__ = [
    "Bucket",
    "Check",
    "LocalStorage",
    "MemoryStorage",
    "ObjectMeta",
    "ObjectRecord",
    "Part",
    "Segment",
    "StagedBlob",
    "StorageBackend",
    "Upload",
]
