"""The default StorageBackend: blob files on the local filesystem, metadata in SQLite.

Blob files are named by random ids (never by bucket or key) under ``blobs/``. A write lands in
``tmp/``, is fsynced and renamed into ``blobs/`` before the metadata transaction that makes it
visible commits, and blobs an overwrite orphans are unlinked only after that commit: a crash at
any instant leaves each key at its previous or its new complete content. Opening sweeps what a
crash left behind (temporary files, blobs no row references).

SQLite runs on the event-loop thread through one connection: its statements here take microseconds
(WAL, no fsync per commit), and a transaction never awaits, so no other request interleaves with it.
What would block the loop runs in threads: WAL checkpoints (they fsync) on a second connection, and
unlinking dead blobs (freeing a large file takes tens of milliseconds)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from ossdoc import errors
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
    new_id,
    new_upload_id,
    prefix_end,
    segments_of,
)
from ossdoc.backends.storage.files import BlobReader, Reaper, write_blob

# Writes between two WAL checkpoints.
CHECKPOINT_EVERY = 500
# With fsync off, dead blobs are unlinked on the loop thread up to this many, this large in total.
INLINE_UNLINKS = 4
INLINE_UNLINK_BYTES = 1024 * 1024


class LocalStorage:
    def __init__(self, root: Path, fsync: bool = True) -> None:
        """Open (or create) the store at ``root`` and sweep what a crash left; blocking, so async code
        calls ``open``. ``fsync`` False trades durability on power loss for latency."""
        self.root = root
        self.fsync = fsync
        (root / "blobs").mkdir(parents=True, exist_ok=True)
        shutil.rmtree(root / "tmp", ignore_errors=True)
        (root / "tmp").mkdir()
        self.db = sql.connect(root / "meta.sqlite3")
        self._writes = 0
        self._checkpoint: asyncio.Future[None] | None = None
        self._sweep()
        self._reaper = Reaper()

    @classmethod
    async def open(cls, root: Path, fsync: bool = True) -> LocalStorage:
        return await asyncio.to_thread(cls, root, fsync)

    def _sweep(self) -> int:
        """Delete blob files that no object or part references (left by a crash); return how many.
        Only while nothing else runs: a staged blob is referenced by no row until its commit."""
        referenced = {row[0] for row in self.db.execute("SELECT blob_id FROM parts")}
        for (segments,) in self.db.execute("SELECT segments FROM objects"):
            referenced.update(blob_id for blob_id, _ in json.loads(segments))
        removed = 0
        for path in (self.root / "blobs").glob("*/*"):
            if path.name not in referenced:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def blob_path(self, blob_id: str) -> Path:
        return self.root / "blobs" / blob_id[:2] / blob_id

    def _release(self, dead: Iterable[Segment], keep: Iterable[Segment] = ()) -> None:
        """Delete the blob files of ``dead`` except those in ``keep``. Never awaited: a commit must not
        raise (and have its blobs discarded by the caller) after it committed.

        In the reaper's thread: freeing a large file takes tens of milliseconds, and with fsync on even
        a small unlink waits for the filesystem journal (~100 µs). With fsync off a few small files go
        at once, which measured cheaper than the hand-over."""
        kept = {segment.blob_id for segment in keep}
        gone = [segment for segment in dead if segment.blob_id not in kept]
        paths = [self.blob_path(segment.blob_id) for segment in gone]
        if (
            not self.fsync
            and len(gone) <= INLINE_UNLINKS
            and sum(s.size for s in gone) <= INLINE_UNLINK_BYTES
        ):
            for path in paths:
                path.unlink(missing_ok=True)
        else:
            self._reaper.unlink(paths)

    async def settle(self) -> None:
        """Wait until the blob files released so far are gone."""
        await self._reaper.settle()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        self._writes += 1
        if self._writes >= CHECKPOINT_EVERY and self._checkpoint is None:
            self._writes = 0
            self._checkpoint = asyncio.get_running_loop().run_in_executor(
                None, sql.checkpoint, self.root / "meta.sqlite3"
            )
            self._checkpoint.add_done_callback(self._checkpoint_done)

    def _checkpoint_done(self, future: asyncio.Future[None]) -> None:
        self._checkpoint = None
        if not future.cancelled():
            future.exception()  # a failed passive checkpoint is retried after the next writes

    # Buckets
    async def create_bucket(self, bucket: Bucket) -> None:
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO buckets VALUES (?, ?, ?, ?)",
                    (bucket.name, bucket.created, bucket.acl, bucket.storage_class),
                )
        except sqlite3.IntegrityError as exc:
            raise errors.BucketAlreadyExists(BucketName=bucket.name) from exc

    async def get_bucket(self, name: str) -> Bucket | None:
        row = self.db.execute("SELECT * FROM buckets WHERE name = ?", (name,)).fetchone()
        return sql.to_bucket(row) if row else None

    async def list_buckets(self) -> list[Bucket]:
        return [sql.to_bucket(row) for row in self.db.execute("SELECT * FROM buckets ORDER BY name")]

    async def set_bucket_acl(self, name: str, acl: str) -> None:
        with self._transaction() as db:
            if db.execute("UPDATE buckets SET acl = ? WHERE name = ?", (acl, name)).rowcount == 0:
                raise errors.NoSuchBucket(BucketName=name)

    async def delete_bucket(self, name: str) -> None:
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone() is None:
                raise errors.NoSuchBucket(BucketName=name)
            busy = db.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)).fetchone()
            busy = busy or db.execute("SELECT 1 FROM uploads WHERE bucket = ? LIMIT 1", (name,)).fetchone()
            if busy:
                raise errors.BucketNotEmpty(BucketName=name)
            db.execute("DELETE FROM buckets WHERE name = ?", (name,))

    # Blobs
    async def stage(self, body: AsyncIterable[bytes], *, limit: int | None = None) -> StagedBlob:
        blob_id = new_id()
        return await write_blob(
            body, self.root / "tmp" / blob_id, self.blob_path(blob_id), blob_id, limit, self.fsync
        )

    async def discard(self, blob: StagedBlob) -> None:
        self._release([Segment(blob.blob_id, blob.size)])

    def read(self, record: ObjectRecord, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        pieces = clip(record.segments, start, record.size if end is None else end)
        return BlobReader([(self.blob_path(s.blob_id), offset, length) for s, offset, length in pieces])

    # Objects
    def _get(self, bucket: str, key: str) -> ObjectRecord | None:
        row = self.db.execute(
            f"SELECT {sql.OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?", (bucket, key.encode())
        ).fetchone()
        return sql.to_object(row) if row else None

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        return self._get(bucket, key)

    def _require_bucket(self, db: sqlite3.Connection, bucket: str) -> None:
        if db.execute("SELECT 1 FROM buckets WHERE name = ?", (bucket,)).fetchone() is None:
            raise errors.NoSuchBucket(BucketName=bucket)

    def _commit(self, record: ObjectRecord, check: Check | None) -> ObjectRecord:
        with self._transaction() as db:
            self._require_bucket(db, record.bucket)
            old = self._get(record.bucket, record.key)
            if check is not None:
                check(old)
            db.execute(
                f"INSERT OR REPLACE INTO objects ({sql.OBJECT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                sql.object_row(record),
            )
        if old is not None:
            self._release(old.segments, keep=record.segments)
        return record

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
        return self._commit(record, check)

    async def copy_object(
        self, source: ObjectRecord, bucket: str, key: str, *, meta: ObjectMeta, check: Check | None = None
    ) -> ObjectRecord:
        # Blob files are immutable, so a hard link shares the bytes; the copy's own name keeps them
        # alive when the source is overwritten or deleted.
        segments = []
        try:
            for segment in source.segments:
                blob_id = new_id()
                target = self.blob_path(blob_id)
                target.parent.mkdir(exist_ok=True)
                try:
                    os.link(self.blob_path(segment.blob_id), target)
                except FileNotFoundError as exc:
                    raise errors.NoSuchKey(Key=source.key) from exc  # overwritten or deleted meanwhile
                except OSError:
                    await asyncio.to_thread(shutil.copyfile, self.blob_path(segment.blob_id), target)
                segments.append(Segment(blob_id, segment.size))
            record = replace(
                source, bucket=bucket, key=key, meta=meta, last_modified=time.time(), segments=tuple(segments)
            )
            return self._commit(record, check)
        except BaseException:
            self._release(segments)
            raise

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
        def check_append(current: ObjectRecord | None) -> None:
            check_position(current, position)
            if check is not None:
                check(current)

        # The record is built from the row read inside the transaction, so two appends at the
        # same position cannot both succeed.
        with self._transaction() as db:
            self._require_bucket(db, bucket)
            current = self._get(bucket, key)
            check_append(current)
            record = appended(current, bucket, key, blob, meta)
            db.execute(
                f"INSERT OR REPLACE INTO objects ({sql.OBJECT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                sql.object_row(record),
            )
        return record

    async def update_meta(self, bucket: str, key: str, meta: ObjectMeta) -> ObjectRecord:
        with self._transaction() as db:
            current = self._get(bucket, key)
            if current is None:
                raise errors.NoSuchKey(Key=key)
            db.execute(
                "UPDATE objects SET meta = ? WHERE bucket = ? AND key = ?",
                (sql.dump_meta(meta), bucket, key.encode()),
            )
        return replace(current, meta=meta)

    async def delete_object(self, bucket: str, key: str) -> bool:
        with self._transaction() as db:
            old = self._get(bucket, key)
            if old is not None:
                db.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key.encode()))
        if old is None:
            return False
        self._release(old.segments)
        return True

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
        with self._transaction() as db:
            self._require_bucket(db, bucket)
            db.execute(
                f"INSERT INTO uploads ({sql.UPLOAD_COLUMNS}) VALUES (?,?,?,?,?)",
                (upload.upload_id, bucket, key.encode(), upload.initiated, sql.dump_meta(meta)),
            )
        return upload

    async def get_upload(self, bucket: str, key: str, upload_id: str) -> Upload | None:
        row = self.db.execute(
            f"SELECT {sql.UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ? AND bucket = ? AND key = ?",
            (upload_id, bucket, key.encode()),
        ).fetchone()
        return sql.to_upload(row) if row else None

    def _require_upload(self, db: sqlite3.Connection, upload: Upload) -> None:
        if db.execute("SELECT 1 FROM uploads WHERE upload_id = ?", (upload.upload_id,)).fetchone() is None:
            raise errors.NoSuchUpload(UploadId=upload.upload_id)

    async def put_part(self, upload: Upload, number: int, blob: StagedBlob) -> Part:
        part = Part(number, blob.md5.hex().upper(), blob.size, blob.crc64, time.time(), blob.blob_id)
        with self._transaction() as db:
            self._require_upload(db, upload)
            old = db.execute(
                "SELECT blob_id, size FROM parts WHERE upload_id = ? AND number = ?",
                (upload.upload_id, number),
            ).fetchone()
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
            self._release([Segment(old[0], old[1])])
        return part

    def _parts(self, upload_id: str) -> list[Part]:
        rows = self.db.execute(
            f"SELECT {sql.PART_COLUMNS} FROM parts WHERE upload_id = ? ORDER BY number", (upload_id,)
        )
        return [sql.to_part(row) for row in rows]

    async def list_parts(self, upload: Upload) -> list[Part]:
        self._require_upload(self.db, upload)
        return self._parts(upload.upload_id)

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
        with self._transaction() as db:
            self._require_upload(db, upload)
            self._require_bucket(db, upload.bucket)
            current = self._parts(upload.upload_id)
            check_parts(upload, parts, {p.number: p.blob_id for p in current})
            stored = [Segment(p.blob_id, p.size) for p in current]
            old = self._get(upload.bucket, upload.key)
            if check is not None:
                check(old)
            db.execute(
                f"INSERT OR REPLACE INTO objects ({sql.OBJECT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                sql.object_row(record),
            )
            db.execute("DELETE FROM parts WHERE upload_id = ?", (upload.upload_id,))
            db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload.upload_id,))
        self._release([*stored, *(old.segments if old else ())], keep=record.segments)
        return record

    async def abort_upload(self, upload: Upload) -> None:
        with self._transaction() as db:
            self._require_upload(db, upload)
            blobs = [Segment(p.blob_id, p.size) for p in self._parts(upload.upload_id)]
            db.execute("DELETE FROM parts WHERE upload_id = ?", (upload.upload_id,))
            db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload.upload_id,))
        self._release(blobs)

    async def close(self) -> None:
        await self._reaper.stop()
        if self._checkpoint is not None:
            await asyncio.wait([self._checkpoint])
        self.db.close()
