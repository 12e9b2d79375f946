"""Storage backends: where buckets, objects and multipart uploads live."""

from __future__ import annotations

from ossdoc.backends.storage.base import StorageBackend
from ossdoc.backends.storage.local import LocalStorage
from ossdoc.backends.storage.memory import MemoryStorage

__all__ = ["LocalStorage", "MemoryStorage", "StorageBackend"]
