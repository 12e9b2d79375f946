"""The SQLite metadata store of LocalStorage: schema and row ↔ record mapping.

Keys are stored as BLOBs of their UTF-8 bytes so that ORDER BY gives OSS's byte order. CRC-64 values
are unsigned 64-bit, beyond SQLite's signed INTEGER, so they are stored as text.

Small bodies live in ``inline_blobs`` (see local.py); a blob no object needs any more is listed in
``garbage`` by the transaction that let it go, and deleted once no reader can still be about to open
it, so a crash never leaks one and another process never loses one it is reading."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import fields
from pathlib import Path
from typing import Any

from ossdoc.backends.storage.base import Bucket, ObjectMeta, ObjectRecord, Part, Segment, Upload

SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY, created REAL NOT NULL, acl TEXT NOT NULL, storage_class TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, key BLOB NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    crc64 TEXT NOT NULL, mtime REAL NOT NULL, type TEXT NOT NULL, meta TEXT NOT NULL,
    segments TEXT NOT NULL, PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key BLOB NOT NULL, initiated REAL NOT NULL,
    meta TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (bucket, key, initiated);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL, number INTEGER NOT NULL, etag TEXT NOT NULL, size INTEGER NOT NULL,
    crc64 TEXT NOT NULL, mtime REAL NOT NULL, blob_id TEXT NOT NULL, PRIMARY KEY (upload_id, number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inline_blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, next INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS garbage (
    blob_id TEXT PRIMARY KEY, size INTEGER NOT NULL, dead REAL NOT NULL
) WITHOUT ROWID;
"""

OBJECT_COLUMNS = "bucket, key, size, etag, crc64, mtime, type, meta, segments"
UPLOAD_COLUMNS = "upload_id, bucket, key, initiated, meta"
PART_COLUMNS = "number, etag, size, crc64, mtime, blob_id"


def connect(path: Path) -> sqlite3.Connection:
    """A connection whose commits do not fsync (synchronous=NORMAL): that survives a process crash
    (SIGKILL), and a power cut may lose the last transactions but never corrupts the database. With
    fsync on, the committer fsyncs the WAL itself before it answers (committer.py)."""
    # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE) where a commit needs one.
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    # Only takes effect on a new database (``recover`` converts an old one): freed pages can then be
    # given back to the filesystem by ``PRAGMA incremental_vacuum``.
    db.execute("PRAGMA auto_vacuum=INCREMENTAL")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    # A checkpoint fsyncs; ``checkpoint`` runs it in a thread instead of inside a commit.
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.executescript(SCHEMA)
    return db


def checkpoint(path: Path) -> None:
    """Copy the WAL into the database from a connection of its own (PASSIVE: never blocks writers)."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        db.close()


def dump_meta(meta: ObjectMeta) -> str:
    # Shallow (its values are str or flat dicts of str): asdict's deep copy cost a quarter of a commit.
    shallow = {field.name: getattr(meta, field.name) for field in fields(meta)}
    return json.dumps(shallow, ensure_ascii=False, separators=(",", ":"))


def load_meta(raw: str) -> ObjectMeta:
    return ObjectMeta(**json.loads(raw))


def object_row(record: ObjectRecord) -> tuple[Any, ...]:
    segments = json.dumps([[s.blob_id, s.size] for s in record.segments])
    return (
        record.bucket,
        record.key.encode(),
        record.size,
        record.etag,
        str(record.crc64),
        record.last_modified,
        record.object_type,
        dump_meta(record.meta),
        segments,
    )


def to_object(row: tuple[Any, ...]) -> ObjectRecord:
    bucket, key, size, etag, crc, mtime, kind, meta, segments = row
    return ObjectRecord(
        bucket=bucket,
        key=bytes(key).decode(),
        size=size,
        etag=etag,
        crc64=int(crc),
        last_modified=mtime,
        object_type=kind,
        meta=load_meta(meta),
        segments=tuple(Segment(b, n) for b, n in json.loads(segments)),
    )


def to_bucket(row: tuple[Any, ...]) -> Bucket:
    return Bucket(name=row[0], created=row[1], acl=row[2], storage_class=row[3])


def to_upload(row: tuple[Any, ...]) -> Upload:
    upload_id, bucket, key, initiated, meta = row
    return Upload(bucket, bytes(key).decode(), upload_id, initiated, load_meta(meta))


def to_part(row: tuple[Any, ...]) -> Part:
    number, etag, size, crc, mtime, blob_id = row
    return Part(number, etag, size, int(crc), mtime, blob_id)
