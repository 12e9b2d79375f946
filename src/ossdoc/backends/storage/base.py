"""The storage backend interface: buckets, objects as lists of immutable blobs, multipart uploads.

A write is two-phase: ``stage`` streams a body into a blob that nobody can see yet (computing size,
MD5 and CRC-64 on the way), then a ``commit_*`` call makes it visible atomically, or ``discard``
throws it away. Commits take a ``check`` callback that runs inside the commit's transaction with the
current record (or None), so preconditions (If-Match, append position, forbid-overwrite) cannot race
a concurrent writer; it raises an OSSError to abort the commit, and the staged blob stays the caller's
to discard.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Bucket:
    name: str
    created: float  # epoch seconds
    acl: str = "private"  # private | public-read | public-read-write
    storage_class: str = "Standard"


@dataclass(frozen=True)
class ObjectMeta:
    """What a client sets on an object and gets back on GET/HEAD."""

    content_type: str = "application/octet-stream"
    # Lower-cased standard headers kept verbatim: content-disposition, content-encoding,
    # content-language, cache-control, expires.
    headers: dict[str, str] = field(default_factory=dict)
    # Lower-cased ``x-oss-meta-*`` names (prefix included) to values.
    user_meta: dict[str, str] = field(default_factory=dict)
    acl: str = "default"  # default | private | public-read | public-read-write
    tags: dict[str, str] = field(default_factory=dict)
    storage_class: str = "Standard"


@dataclass(frozen=True)
class StagedBlob:
    """Bytes written but not yet part of any object."""

    blob_id: str
    size: int
    md5: bytes  # raw 16-byte digest
    crc64: int


@dataclass(frozen=True)
class Segment:
    blob_id: str
    size: int


@dataclass(frozen=True)
class ObjectRecord:
    bucket: str
    key: str
    size: int
    etag: str  # unquoted, upper-case hex; multipart: "<HEX>-<parts>"
    crc64: int
    last_modified: float  # epoch seconds
    object_type: str  # Normal | Multipart | Appendable
    meta: ObjectMeta
    segments: tuple[Segment, ...] = ()


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    upload_id: str
    initiated: float
    meta: ObjectMeta


@dataclass(frozen=True)
class Part:
    number: int
    etag: str  # unquoted, upper-case hex
    size: int
    crc64: int
    last_modified: float
    blob_id: str


Check = Callable[["ObjectRecord | None"], None]


@runtime_checkable
class FileBacked(Protocol):
    """A body reader (what ``StorageBackend.read`` returns) whose bytes may all be in files, which a
    server can then send itself (sendfile)."""

    def files(self) -> list[tuple[int, int, int]] | None:
        """The open descriptors with the offset and length to send from each, in order; None when
        some bytes are not in a file. The reader still owns them."""

    async def aclose(self) -> None:
        """Close the files."""


class StorageBackend(Protocol):
    # Buckets
    async def create_bucket(self, bucket: Bucket) -> None:
        """Raise BucketAlreadyExists if the name is taken."""

    async def get_bucket(self, name: str) -> Bucket | None: ...

    async def list_buckets(self) -> list[Bucket]:
        """All buckets, sorted by name."""

    async def set_bucket_acl(self, name: str, acl: str) -> None: ...

    async def delete_bucket(self, name: str) -> None:
        """Raise NoSuchBucket, or BucketNotEmpty while it holds objects or multipart uploads."""

    # Blobs
    async def stage(self, body: AsyncIterable[bytes], *, limit: int | None = None) -> StagedBlob:
        """Write ``body`` durably (fsync) to a new invisible blob.

        Raise EntityTooLarge (and keep nothing) once more than ``limit`` bytes arrive."""

    async def discard(self, blob: StagedBlob) -> None: ...

    def read(self, record: ObjectRecord, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes [start, end) of the object (end=None: to the end), in bounded chunks.

        Reads from the blobs as they were when called: a concurrent overwrite or delete does not
        cut the stream short."""

    # Objects
    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None: ...

    async def commit_object(
        self,
        bucket: str,
        key: str,
        *,
        segments: list[StagedBlob],
        etag: str,
        crc64: int,
        object_type: str,
        meta: ObjectMeta,
        check: Check | None = None,
    ) -> ObjectRecord:
        """Make the object ``bucket/key`` the concatenation of ``segments``, replacing any old one.

        The blobs now belong to the object. Raise NoSuchBucket if the bucket is gone."""

    async def copy_object(
        self, source: ObjectRecord, bucket: str, key: str, *, meta: ObjectMeta, check: Check | None = None
    ) -> ObjectRecord:
        """A new object with the source's bytes, ETag, CRC and type, and ``meta``, without copying data
        where the backend can share it."""

    async def append_object(
        self,
        bucket: str,
        key: str,
        *,
        blob: StagedBlob,
        position: int,
        meta: ObjectMeta,
        check: Check | None = None,
    ) -> ObjectRecord:
        """Append ``blob`` at ``position``: create an Appendable object if none exists (position must be 0),
        else extend it. Raise ObjectNotAppendable for other types and PositionNotEqualToLength when
        ``position`` is not the current size (the error carries ``x-oss-next-append-position``)."""

    async def update_meta(self, bucket: str, key: str, meta: ObjectMeta) -> ObjectRecord:
        """Change metadata (ACL, tags, ...) in place without touching data or Last-Modified.
        Raise NoSuchKey."""

    async def delete_object(self, bucket: str, key: str) -> bool:
        """True if something was deleted."""

    async def list_objects(self, bucket: str, prefix: str, after: bytes, limit: int) -> list[ObjectRecord]:
        """Up to ``limit`` objects whose key starts with ``prefix`` and whose UTF-8 key sorts strictly
        after ``after`` in byte order, in byte order."""

    # Multipart uploads
    async def create_upload(self, bucket: str, key: str, meta: ObjectMeta) -> Upload: ...

    async def get_upload(self, bucket: str, key: str, upload_id: str) -> Upload | None: ...

    async def put_part(self, upload: Upload, number: int, blob: StagedBlob) -> Part:
        """Store a part, replacing the same number. Raise NoSuchUpload if aborted meanwhile."""

    async def list_parts(self, upload: Upload) -> list[Part]:
        """All parts, by number."""

    async def list_uploads(
        self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str, limit: int
    ) -> list[Upload]:
        """In-progress uploads after (key_marker, upload_id_marker), ordered by key bytes then initiation."""

    async def complete_upload(
        self,
        upload: Upload,
        parts: list[Part],
        *,
        etag: str,
        crc64: int,
        check: Check | None = None,
    ) -> ObjectRecord:
        """Atomically: the object becomes the concatenation of ``parts``; the upload and its other
        parts are gone. Raise NoSuchUpload if it was aborted or completed meanwhile."""

    async def abort_upload(self, upload: Upload) -> None:
        """Raise NoSuchUpload if already gone."""

    async def close(self) -> None: ...
