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
from ossdoc.backends.storage.maintenance import Tuning
from ossdoc.backends.storage.memory import MemoryStorage
from ossdoc.config import Settings

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


async def open_storage(settings: Settings) -> StorageBackend:
    """The backend ``settings.storage`` names: the data directory (default) or an S3-compatible store."""
    if settings.storage == "local":
        tuning = Tuning(compact_bytes=settings.compact_bytes)
        return await LocalStorage.open(settings.data / "objects", settings.fsync, tuning=tuning)
    # Imported here: aiobotocore is needed only by deployments on S3 (the ``s3`` extra).
    from ossdoc.backends.storage.s3 import open_s3

    return await open_s3(settings)
