"""Helpers shared by the storage backends."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterable

from ossdoc import crc64, errors
from ossdoc.backends.storage.base import ObjectMeta, ObjectRecord, Part, Segment, StagedBlob, Upload


def new_id() -> str:
    return secrets.token_hex(16)


_last_upload_ns = 0
_upload_id_lock = threading.Lock()


# hashlib releases the GIL for an update of this many bytes or more (CPython's HASHLIB_GIL_MINSIZE).
_GIL_RELEASE_BYTES = 2048


def md5_holding_gil(data: bytes) -> bytes:
    """The MD5 of a small body, fed to hashlib in pieces too short for it to release the GIL.

    On the event loop, a release hands the GIL to the commit or fsync thread when either waits for
    it, and the loop then sleeps until that thread lets go: a context switch or two for every small
    PUT, where hashing its 4 KiB takes 10 µs."""
    digest = hashlib.md5(usedforsecurity=False)
    view = memoryview(data)
    for start in range(0, len(view), _GIL_RELEASE_BYTES - 1):
        digest.update(view[start : start + _GIL_RELEASE_BYTES - 1])
    return digest.digest()


def new_upload_id() -> str:
    """32 upper-case hex digits like OSS's. The first 16 are the initiation time in nanoseconds
    (strictly increasing within a process), the rest random: IDs sort in initiation order, which is
    the order ListMultipartUploads gives the uploads of one key, across worker processes too."""
    global _last_upload_ns
    with _upload_id_lock:
        _last_upload_ns = max(time.time_ns(), _last_upload_ns + 1)
        stamp = _last_upload_ns
    return f"{stamp:016X}{secrets.token_hex(8).upper()}"


def appendable_etag(crc: int, size: int) -> str:
    """OSS's ETag of an appendable object is not an MD5 of its bytes either; ours is derived from the
    CRC and size, so it changes with every append and is equal for equal contents."""
    return hashlib.md5(f"{crc}:{size}".encode(), usedforsecurity=False).hexdigest().upper()


def check_position(current: ObjectRecord | None, position: int) -> None:
    if current is not None and current.object_type != "Appendable":
        raise errors.ObjectNotAppendable()
    size = current.size if current else 0
    if position != size:
        err = errors.PositionNotEqualToLength()
        err.headers["x-oss-next-append-position"] = str(size)
        raise err


def check_parts(upload: Upload, parts: list[Part], stored: dict[int, str]) -> None:
    """Refuse parts that are not the stored ones any more (``stored``: number to blob id): a part
    re-uploaded since the caller listed them has had its old blob deleted."""
    for part in parts:
        if stored.get(part.number) != part.blob_id:
            raise errors.InvalidPart(UploadId=upload.upload_id, PartNumber=str(part.number), ETag=part.etag)


def appended(
    current: ObjectRecord | None, bucket: str, key: str, blob: StagedBlob, meta: ObjectMeta
) -> ObjectRecord:
    """The record after appending ``blob``; metadata is set by the first append only."""
    if current is None:
        segments: tuple[Segment, ...] = (Segment(blob.blob_id, blob.size),)
        crc, size = blob.crc64, blob.size
    else:
        segments = (*current.segments, Segment(blob.blob_id, blob.size))
        crc, size = crc64.combine(current.crc64, blob.crc64, blob.size), current.size + blob.size
        meta = current.meta
    return ObjectRecord(
        bucket=bucket,
        key=key,
        size=size,
        etag=appendable_etag(crc, size),
        crc64=crc,
        last_modified=time.time(),
        object_type="Appendable",
        meta=meta,
        segments=segments,
    )


def segments_of(blobs: Iterable[StagedBlob]) -> tuple[Segment, ...]:
    return tuple(Segment(b.blob_id, b.size) for b in blobs)


def clip(segments: Iterable[Segment], start: int, end: int) -> list[tuple[Segment, int, int]]:
    """(segment, offset, length) pieces covering bytes [start, end) of the concatenation."""
    pieces = []
    base = 0
    for segment in segments:
        lo, hi = max(start, base), min(end, base + segment.size)
        if lo < hi:
            pieces.append((segment, lo - base, hi - lo))
        base += segment.size
    return pieces


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix`` (None: no bound)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])
