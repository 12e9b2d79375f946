"""The default StorageBackend: metadata and small bodies in SQLite, larger bodies in files.

Under ``root``:

  meta.sqlite3    buckets, objects, uploads, parts; bodies of at most ``inline_bytes`` (inline_blobs,
                  keyed in increasing order from blocks in counters); blobs released and not yet
                  deleted (garbage)
  blobs/xx/<id>   each larger body in a file named by a random id (never by bucket or key)
  tmp/<owner>/    larger bodies being received by one process (presence.py)
  buckets.gen     counts bucket changes, so each process can cache the buckets (changes.py)
  objects.gen     a version per hashed key, so each process can cache object records (changes.py)

Every write transaction goes through the Committer (group commit, committer.py). A small body is
received into memory and inserted by the very transaction that makes its object visible, so one
commit (one WAL fsync with fsync on) makes a whole batch of small writes durable, bodies and
metadata together. A larger body is written to tmp/, fsynced and renamed into blobs/ before that
transaction. So a crash at any instant leaves each key at its previous or its new complete content,
and an answered write is durable.

What an overwrite, delete or abort lets go of is listed in ``garbage`` by the same transaction and
deleted ``grace`` seconds later by the maintenance thread, which also checkpoints the WAL and
compacts the database (maintenance.py): a reader in any process that found the old record can still
open its blobs, and a crash never leaks one.

Reads run on the event-loop thread through a connection of their own: a statement takes
microseconds, and WAL readers never wait for writers. Several processes may open one root at once
(``ossdoc serve --workers N``)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from ossdoc import crc64, errors
from ossdoc.backends.storage import sqlite_meta as sql
from ossdoc.backends.storage.base import (
    Bucket,
    Check,
    ObjectMeta,
    ObjectRecord,
    Part,
    Segment,
    StagedBlob,
    Upload,
)
from ossdoc.backends.storage.blobs import (
    appended,
    check_parts,
    check_position,
    clip,
    md5_holding_gil,
    new_id,
    new_upload_id,
    prefix_end,
    segments_of,
)
from ossdoc.backends.storage.changes import ChangeCounter, KeyVersions
from ossdoc.backends.storage.committer import Committer
from ossdoc.backends.storage.files import BlobReader, Reaper, write_blob
from ossdoc.backends.storage.maintenance import Maintenance, Tuning, forget, inline_id, inline_key, is_inline
from ossdoc.backends.storage.presence import Presence

T = TypeVar("T")
# Bodies up to this size live in the database: benchmarks/storage.py, 16 concurrent PUTs with fsync,
# found inline 1.1-3x faster than a file each up to 16 KiB, and no clear winner from 64 KiB on.
INLINE_BYTES = 16 * 1024
ROW = f"INSERT OR REPLACE INTO objects ({sql.OBJECT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"


# Small bodies' keys in inline_blobs are handed out in increasing order, from blocks of this many that
# a process reserves in the database (table counters), so that a key is never used twice, even after
# its body is deleted: a reader holding an old record must find that body or none, never another.
# Increasing keys make each insert land at the edge of the table's b-tree, where the last one went,
# not on a random leaf: random keys cost a 4 KiB PUT three times the SQLite work in a table of 30,000
# bodies, and a page read from disk once the table outgrows the page cache.
INLINE_KEY_BLOCK = 1024
# Keys run up from the most negative integer. Earlier versions drew random keys in [0, 2**63): the
# two ranges never meet (2**63 keys at a million PUTs a second last 292,000 years).
_FIRST_INLINE_KEY = -(2**63)


def _reserve_inline_keys(db: sqlite3.Connection) -> int:
    """The first key of a block no process has had (on the commit thread)."""
    row = db.execute("SELECT next FROM counters WHERE name = 'inline'").fetchone()
    first = _FIRST_INLINE_KEY if row is None else int(row[0])
    reserved = (first + INLINE_KEY_BLOCK,)
    db.execute("INSERT OR REPLACE INTO counters (name, next) VALUES ('inline', ?)", reserved)
    return first


_CACHED_BUCKETS = 4096  # records cached at most (emptied when full)
_CACHED_OBJECTS = 4096  # object records cached at most per process (emptied when full)
_CACHED_BODY_BYTES = 16 * 1024 * 1024  # small bodies cached at most per process (emptied when full)


class LocalStorage:
    def __init__(
        self,
        root: Path,
        fsync: bool = True,
        *,
        inline_bytes: int = INLINE_BYTES,
        tuning: Tuning | None = None,
    ) -> None:
        """Open (or create) the store at ``root``; blocking, so async code calls ``open``. The first
        process to open it recovers what a crash left. ``fsync`` False trades durability on power
        loss for latency."""
        self.root = root
        self.fsync = fsync
        self.inline_bytes = inline_bytes
        (root / "blobs").mkdir(parents=True, exist_ok=True)
        self._presence = Presence(root)
        try:
            self.db = sql.connect(root / "meta.sqlite3")
            if self._presence.alone:
                recover(self.db, self.blob_path)
            self._versions = KeyVersions(root / "objects.gen")
            self._committer = Committer(
                root / "meta.sqlite3", root / "commit.lock", durable=fsync, versions=self._versions
            )
        except BaseException:
            self._presence.close()
            raise
        self._presence.opened()
        self._maintenance = Maintenance(
            root / "meta.sqlite3", self._committer, self.blob_path, tuning or Tuning()
        )
        self._reaper = Reaper()
        # Every PUT checks its bucket first: the records are cached while no process changes any.
        self._bucket_changes = ChangeCounter(root / "buckets.gen")
        self._buckets: dict[str, Bucket | None] = {}
        self._buckets_seen = -1
        # Object records read, under their key's version (``_versions``), with the body once a small
        # one is read whole: a GET of a hot small object reads no SQLite. (version, record, body)
        self._objects: dict[tuple[str, str], tuple[int, ObjectRecord | None, bytes | None]] = {}
        self._body_bytes = 0  # of the cached bodies
        # Blobs staged by this process and not committed: inline bodies wait here in memory.
        self._staged: dict[str, bytes] = {}
        self._uncommitted: set[str] = set()
        self._inline_next = self._inline_end = 0  # the keys left of this process's reserved block

    @classmethod
    async def open(
        cls, root: Path, fsync: bool = True, *, inline_bytes: int = INLINE_BYTES, tuning: Tuning | None = None
    ) -> LocalStorage:
        return await asyncio.to_thread(lambda: cls(root, fsync, inline_bytes=inline_bytes, tuning=tuning))

    def blob_path(self, blob_id: str) -> Path:
        return self.root / "blobs" / blob_id[:2] / blob_id

    async def _write(self, change: Callable[[sqlite3.Connection], T], staged: Iterable[str] = ()) -> T:
        """Run ``change`` in the next group commit; once committed, the blobs ``staged`` belong to
        what it wrote (discard leaves them alone)."""
        ids = list(staged)

        def committed() -> None:
            for blob_id in ids:
                self._uncommitted.discard(blob_id)
                self._staged.pop(blob_id, None)

        return await self._committer.run(change, committed if ids else None)

    def _insert_inline(self, db: sqlite3.Connection, blobs: Iterable[str]) -> None:
        for blob_id in blobs:
            if is_inline(blob_id):
                db.execute(
                    "INSERT INTO inline_blobs (id, data) VALUES (?, ?)",
                    (inline_key(blob_id), self._staged[blob_id]),
                )

    async def settle(self) -> None:
        """Delete every blob released so far now, whatever its grace (tests, benchmarks)."""
        await self._reaper.settle()
        await asyncio.to_thread(self._maintenance.step, 0.0)

    async def compact(self) -> tuple[int, int, float]:
        """Compact the database now: (bytes before, bytes after, seconds)."""
        await asyncio.to_thread(self._maintenance.step, 0.0)
        done = await asyncio.to_thread(self._maintenance.compact)
        page = int(self.db.execute("PRAGMA page_size").fetchone()[0])
        return done.pages_before * page, done.pages_after * page, done.seconds

    # Buckets
    async def create_bucket(self, bucket: Bucket) -> None:
        def change(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    "INSERT INTO buckets VALUES (?, ?, ?, ?)",
                    (bucket.name, bucket.created, bucket.acl, bucket.storage_class),
                )
            except sqlite3.IntegrityError as exc:
                raise errors.BucketAlreadyExists(BucketName=bucket.name) from exc

        await self._change_buckets(change)

    async def get_bucket(self, name: str) -> Bucket | None:
        seen = self._bucket_changes.value()  # before the read: see changes.py
        if seen != self._buckets_seen or len(self._buckets) >= _CACHED_BUCKETS:
            self._buckets.clear()
            self._buckets_seen = seen
        elif name in self._buckets:
            return self._buckets[name]
        row = self.db.execute("SELECT * FROM buckets WHERE name = ?", (name,)).fetchone()
        bucket = self._buckets[name] = sql.to_bucket(row) if row else None
        return bucket

    async def _change_buckets(self, change: Callable[[sqlite3.Connection], None]) -> None:
        await self._committer.run(change, self._bucket_changes.bump)

    async def list_buckets(self) -> list[Bucket]:
        return [sql.to_bucket(row) for row in self.db.execute("SELECT * FROM buckets ORDER BY name")]

    async def set_bucket_acl(self, name: str, acl: str) -> None:
        def change(db: sqlite3.Connection) -> None:
            if db.execute("UPDATE buckets SET acl = ? WHERE name = ?", (acl, name)).rowcount == 0:
                raise errors.NoSuchBucket(BucketName=name)

        await self._change_buckets(change)

    async def delete_bucket(self, name: str) -> None:
        def change(db: sqlite3.Connection) -> None:
            if db.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone() is None:
                raise errors.NoSuchBucket(BucketName=name)
            busy = db.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)).fetchone()
            busy = busy or db.execute("SELECT 1 FROM uploads WHERE bucket = ? LIMIT 1", (name,)).fetchone()
            if busy:
                raise errors.BucketNotEmpty(BucketName=name)
            db.execute("DELETE FROM buckets WHERE name = ?", (name,))

        await self._change_buckets(change)

    # Blobs
    async def stage(self, body: AsyncIterable[bytes], *, limit: int | None = None) -> StagedBlob:
        # Received into memory until it outgrows ``inline_bytes``, then into a file.
        chunks: list[bytes] = []
        received = 0
        iterator = aiter(body)
        async for chunk in iterator:
            received += len(chunk)
            if limit is not None and received > limit:
                raise errors.EntityTooLarge(f"The body exceeds the maximum allowed size of {limit} bytes.")
            chunks.append(chunk)
            if received > self.inline_bytes:
                return await self._stage_file(_chained(chunks, iterator), limit)
        data = b"".join(chunks)
        blob_id = await self._new_inline_id()
        self._staged[blob_id] = data
        self._uncommitted.add(blob_id)
        return StagedBlob(blob_id, len(data), md5_holding_gil(data), crc64.crc64(data))

    async def _new_inline_id(self) -> str:
        if self._inline_next == self._inline_end:
            # Not waiting for the fsync: a body's commit comes after its block's in the WAL, so
            # the block is durable whenever a body under one of its keys is.
            first = await self._committer.run(_reserve_inline_keys, durable=False)
            # Tasks that found the block used up at the same time each reserve one: the last wins,
            # and what is left of the others is never used.
            self._inline_next, self._inline_end = first, first + INLINE_KEY_BLOCK
        key = self._inline_next
        self._inline_next += 1
        return inline_id(key)

    async def _stage_file(self, body: AsyncIterable[bytes], limit: int | None) -> StagedBlob:
        blob_id = new_id()
        tmp = self._presence.staging / blob_id
        blob = await write_blob(body, tmp, self.blob_path(blob_id), blob_id, limit, self.fsync)
        self._uncommitted.add(blob_id)
        return blob

    async def discard(self, blob: StagedBlob) -> None:
        self._discard([blob.blob_id])

    def _discard(self, ids: Iterable[str]) -> None:
        """Delete staged blobs unless a commit made them part of something meanwhile."""
        files = []
        for blob_id in ids:
            if blob_id in self._uncommitted:
                self._uncommitted.discard(blob_id)
                if self._staged.pop(blob_id, None) is None:
                    files.append(self.blob_path(blob_id))
        self._reaper.unlink(files)

    def read(self, record: ObjectRecord, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        pieces: list[tuple[Path, int, int] | bytes] = []
        for segment, offset, length in clip(record.segments, start, record.size if end is None else end):
            if is_inline(segment.blob_id):
                pieces.append(self._inline(record, segment, offset, length))
            else:
                pieces.append((self.blob_path(segment.blob_id), offset, length))
        try:
            return BlobReader(pieces)
        except FileNotFoundError as exc:
            raise errors.NoSuchKey(Key=record.key) from exc

    def _inline(self, record: ObjectRecord, segment: Segment, offset: int, length: int) -> bytes:
        # The body of a small object read whole is cached with its record, under the same version.
        entry = None
        if offset == 0 and length == segment.size == record.size:
            entry = self._objects.get((record.bucket, record.key))
            if entry is not None and (
                entry[1] is not record or entry[0] != self._version(record.bucket, record.key)
            ):
                entry = None
            if entry is not None and entry[2] is not None:
                return entry[2]
        row = self.db.execute(
            "SELECT substr(data, ?, ?) FROM inline_blobs WHERE id = ?",
            (offset + 1, length, inline_key(segment.blob_id)),
        ).fetchone()
        if row is None:  # released and collected: only a record older than the grace
            raise errors.NoSuchKey(Key=record.key)
        data = bytes(row[0])
        if entry is not None:
            if self._body_bytes + length > _CACHED_BODY_BYTES:
                self._objects.clear()
                self._body_bytes = 0
            self._objects[(record.bucket, record.key)] = (entry[0], record, data)
            self._body_bytes += length
        return data

    # Objects
    def _get(self, db: sqlite3.Connection, bucket: str, key: str) -> ObjectRecord | None:
        row = db.execute(
            f"SELECT {sql.OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?", (bucket, key.encode())
        ).fetchone()
        return sql.to_object(row) if row else None

    def _version(self, bucket: str, key: str) -> int:
        return self._versions.version(KeyVersions.slot(bucket, key.encode()))

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        # The version before the read, and only an even one cached: see KeyVersions.
        seen = self._version(bucket, key)
        entry = self._objects.get((bucket, key))
        if entry is not None and entry[0] == seen:
            return entry[1]
        record = self._get(self.db, bucket, key)
        if not seen & 1:
            if len(self._objects) >= _CACHED_OBJECTS:
                self._objects.clear()
                self._body_bytes = 0
            self._objects[(bucket, key)] = (seen, record, None)
        return record

    def _commit(
        self, record: ObjectRecord, check: Check | None, new: Iterable[str]
    ) -> Callable[[sqlite3.Connection], ObjectRecord]:
        """The change that stores ``record`` (its blobs ``new`` inserted if inline)."""

        def change(db: sqlite3.Connection) -> ObjectRecord:
            _require_bucket(db, record.bucket)
            if check is not None:
                old = self._get(db, record.bucket, record.key)
                check(old)
                dead = old.segments if old else ()
            else:  # only the old blobs are needed: no metadata to decode
                dead = _segments(db, record.bucket, record.key)
            self._insert_inline(db, new)
            db.execute(ROW, sql.object_row(record))
            release(db, dead, keep=record.segments)
            return record

        return change

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
        record = ObjectRecord(
            bucket,
            key,
            sum(b.size for b in segments),
            etag,
            crc64,
            time.time(),
            object_type,
            meta,
            segments_of(segments),
        )
        ids = [blob.blob_id for blob in segments]
        return await self._write(self._commit(record, check, ids), ids)

    async def copy_object(
        self, source: ObjectRecord, bucket: str, key: str, *, meta: ObjectMeta, check: Check | None = None
    ) -> ObjectRecord:
        # Blob files are immutable, so a hard link shares the bytes; the copy's own name keeps them
        # alive when the source is overwritten or deleted. Inline bodies are copied by the commit.
        segments = []
        links: list[str] = []
        copies: list[tuple[str, str]] = []
        try:
            for segment in source.segments:
                if is_inline(segment.blob_id):
                    blob_id = await self._new_inline_id()
                    copies.append((blob_id, segment.blob_id))
                else:
                    blob_id = new_id()
                    await self._link(source, segment.blob_id, blob_id)
                    links.append(blob_id)
                segments.append(Segment(blob_id, segment.size))
            record = replace(
                source, bucket=bucket, key=key, meta=meta, last_modified=time.time(), segments=tuple(segments)
            )
            commit = self._commit(record, check, ())

            def change(db: sqlite3.Connection) -> ObjectRecord:
                for blob_id, of in copies:
                    copied = db.execute(
                        "INSERT INTO inline_blobs (id, data) SELECT ?, data FROM inline_blobs WHERE id = ?",
                        (inline_key(blob_id), inline_key(of)),
                    )
                    if copied.rowcount == 0:
                        raise errors.NoSuchKey(Key=source.key)
                return commit(db)

            return await self._write(change, links)
        except BaseException:
            self._discard(links)
            raise

    async def _link(self, source: ObjectRecord, blob_id: str, new: str) -> None:
        target = self.blob_path(new)
        target.parent.mkdir(exist_ok=True)
        try:
            os.link(self.blob_path(blob_id), target)
        except FileNotFoundError as exc:
            raise errors.NoSuchKey(Key=source.key) from exc  # overwritten or deleted meanwhile
        except OSError:
            await asyncio.to_thread(shutil.copyfile, self.blob_path(blob_id), target)
        self._uncommitted.add(new)

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
        # The record is built from the row read inside the transaction, so two appends at the
        # same position cannot both succeed.
        def change(db: sqlite3.Connection) -> ObjectRecord:
            _require_bucket(db, bucket)
            current = self._get(db, bucket, key)
            check_position(current, position)
            if check is not None:
                check(current)
            record = appended(current, bucket, key, blob, meta)
            self._insert_inline(db, [blob.blob_id])
            db.execute(ROW, sql.object_row(record))
            return record

        return await self._write(change, [blob.blob_id])

    async def update_meta(self, bucket: str, key: str, meta: ObjectMeta) -> ObjectRecord:
        def change(db: sqlite3.Connection) -> ObjectRecord:
            current = self._get(db, bucket, key)
            if current is None:
                raise errors.NoSuchKey(Key=key)
            db.execute(
                "UPDATE objects SET meta = ? WHERE bucket = ? AND key = ?",
                (sql.dump_meta(meta), bucket, key.encode()),
            )
            return replace(current, meta=meta)

        return await self._write(change)

    async def delete_object(self, bucket: str, key: str) -> bool:
        def change(db: sqlite3.Connection) -> bool:
            old = self._get(db, bucket, key)
            if old is None:
                return False
            db.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key.encode()))
            release(db, old.segments)
            return True

        return await self._write(change)

    async def list_objects(self, bucket: str, prefix: str, after: bytes, limit: int) -> list[ObjectRecord]:
        low = prefix.encode()
        high = prefix_end(low)
        query = f"SELECT {sql.OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key > ? AND key >= ?"
        args: list[object] = [bucket, after, low]
        if high is not None:
            query += " AND key < ?"
            args.append(high)
        rows = self.db.execute(query + " ORDER BY key LIMIT ?", (*args, limit))
        return [sql.to_object(row) for row in rows]

    # Multipart uploads
    async def create_upload(self, bucket: str, key: str, meta: ObjectMeta) -> Upload:
        upload = Upload(bucket, key, new_upload_id(), time.time(), meta)

        def change(db: sqlite3.Connection) -> None:
            _require_bucket(db, bucket)
            db.execute(
                f"INSERT INTO uploads ({sql.UPLOAD_COLUMNS}) VALUES (?,?,?,?,?)",
                (upload.upload_id, bucket, key.encode(), upload.initiated, sql.dump_meta(meta)),
            )

        await self._write(change)
        return upload

    async def get_upload(self, bucket: str, key: str, upload_id: str) -> Upload | None:
        row = self.db.execute(
            f"SELECT {sql.UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ? AND bucket = ? AND key = ?",
            (upload_id, bucket, key.encode()),
        ).fetchone()
        return sql.to_upload(row) if row else None

    async def put_part(self, upload: Upload, number: int, blob: StagedBlob) -> Part:
        part = Part(number, blob.md5.hex().upper(), blob.size, blob.crc64, time.time(), blob.blob_id)

        def change(db: sqlite3.Connection) -> Part:
            _require_upload(db, upload)
            old = db.execute(
                "SELECT blob_id, size FROM parts WHERE upload_id = ? AND number = ?",
                (upload.upload_id, number),
            ).fetchone()
            self._insert_inline(db, [blob.blob_id])
            db.execute(
                f"INSERT OR REPLACE INTO parts (upload_id, {sql.PART_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                (
                    upload.upload_id,
                    number,
                    part.etag,
                    part.size,
                    str(part.crc64),
                    part.last_modified,
                    part.blob_id,
                ),
            )
            if old is not None:
                release(db, [Segment(old[0], old[1])])
            return part

        return await self._write(change, [blob.blob_id])

    async def list_parts(self, upload: Upload) -> list[Part]:
        _require_upload(self.db, upload)
        return _parts(self.db, upload.upload_id)

    async def list_uploads(
        self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str, limit: int
    ) -> list[Upload]:
        low = prefix.encode()
        high = prefix_end(low)
        marker = key_marker.encode()
        query = f"SELECT {sql.UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? AND key >= ? AND (key > ?"
        args: list[object] = [bucket, low, marker]
        if upload_id_marker:
            # Upload IDs sort in initiation order (new_upload_id), the order of one key's uploads.
            query += " OR (key = ? AND upload_id > ?)"
            args += [marker, upload_id_marker]
        query += ")"
        if high is not None:
            query += " AND key < ?"
            args.append(high)
        rows = self.db.execute(query + " ORDER BY key, upload_id LIMIT ?", (*args, limit))
        return [sql.to_upload(row) for row in rows]

    async def complete_upload(
        self, upload: Upload, parts: list[Part], *, etag: str, crc64: int, check: Check | None = None
    ) -> ObjectRecord:
        record = ObjectRecord(
            upload.bucket,
            upload.key,
            sum(p.size for p in parts),
            etag,
            crc64,
            time.time(),
            "Multipart",
            upload.meta,
            tuple(Segment(p.blob_id, p.size) for p in parts),
        )

        def change(db: sqlite3.Connection) -> ObjectRecord:
            _require_upload(db, upload)
            _require_bucket(db, upload.bucket)
            current = _parts(db, upload.upload_id)
            check_parts(upload, parts, {p.number: p.blob_id for p in current})
            stored = [Segment(p.blob_id, p.size) for p in current]
            old = self._get(db, upload.bucket, upload.key)
            if check is not None:
                check(old)
            db.execute(ROW, sql.object_row(record))
            db.execute("DELETE FROM parts WHERE upload_id = ?", (upload.upload_id,))
            db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload.upload_id,))
            release(db, [*stored, *(old.segments if old else ())], keep=record.segments)
            return record

        return await self._write(change)

    async def abort_upload(self, upload: Upload) -> None:
        def change(db: sqlite3.Connection) -> None:
            _require_upload(db, upload)
            release(db, [Segment(p.blob_id, p.size) for p in _parts(db, upload.upload_id)])
            db.execute("DELETE FROM parts WHERE upload_id = ?", (upload.upload_id,))
            db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload.upload_id,))

        await self._write(change)

    async def close(self) -> None:
        await self._reaper.stop()
        await asyncio.to_thread(self._maintenance.close)
        await asyncio.to_thread(self._committer.close)
        self._discard(list(self._uncommitted))
        self.db.close()
        self._bucket_changes.close()
        self._versions.close()
        await asyncio.to_thread(self._presence.close)


def _require_bucket(db: sqlite3.Connection, bucket: str) -> None:
    if db.execute("SELECT 1 FROM buckets WHERE name = ?", (bucket,)).fetchone() is None:
        raise errors.NoSuchBucket(BucketName=bucket)


def _require_upload(db: sqlite3.Connection, upload: Upload) -> None:
    if db.execute("SELECT 1 FROM uploads WHERE upload_id = ?", (upload.upload_id,)).fetchone() is None:
        raise errors.NoSuchUpload(UploadId=upload.upload_id)


def _segments(db: sqlite3.Connection, bucket: str, key: str) -> tuple[Segment, ...]:
    row = db.execute(
        "SELECT segments FROM objects WHERE bucket = ? AND key = ?", (bucket, key.encode())
    ).fetchone()
    return () if row is None else tuple(Segment(b, n) for b, n in json.loads(row[0]))


def _parts(db: sqlite3.Connection, upload_id: str) -> list[Part]:
    query = f"SELECT {sql.PART_COLUMNS} FROM parts WHERE upload_id = ? ORDER BY number"
    rows = db.execute(query, (upload_id,))
    return [sql.to_part(row) for row in rows]


def release(db: sqlite3.Connection, dead: Iterable[Segment], keep: Iterable[Segment] = ()) -> None:
    """List the blobs of ``dead`` but not of ``keep`` as garbage, inside the transaction that lets
    them go."""
    kept = {segment.blob_id for segment in keep}
    now = time.time()
    db.executemany(
        "INSERT OR IGNORE INTO garbage (blob_id, size, dead) VALUES (?, ?, ?)",
        [(s.blob_id, s.size, now) for s in dead if s.blob_id not in kept],
    )


def recover(db: sqlite3.Connection, blob_path: Callable[[str], Path]) -> None:
    """What the first process to open a store does, with no other process using it: delete the
    garbage at once, and blob files no row references (left by a crash between a body's rename
    into blobs/ and its commit); give an older database the auto_vacuum compaction needs."""
    for (blob_id,) in db.execute("SELECT blob_id FROM garbage").fetchall():
        if not is_inline(blob_id):
            blob_path(blob_id).unlink(missing_ok=True)
    db.execute("BEGIN IMMEDIATE")
    forget(db, [blob_id for (blob_id,) in db.execute("SELECT blob_id FROM garbage").fetchall()])
    db.execute("COMMIT")
    referenced = {row[0] for row in db.execute("SELECT blob_id FROM parts")}
    for (segments,) in db.execute("SELECT segments FROM objects"):
        referenced.update(blob_id for blob_id, _ in json.loads(segments))
    root = blob_path("00").parent.parent
    for path in root.glob("*/*"):
        if path.name not in referenced:
            path.unlink(missing_ok=True)
    if db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
        db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        db.execute("VACUUM")


async def _chained(first: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in first:
        yield chunk
    async for chunk in rest:
        yield chunk
