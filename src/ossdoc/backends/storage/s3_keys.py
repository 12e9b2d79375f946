"""How S3Storage names things in the store: OSS keys flattened into S3 keys that keep byte order.

Filesystem-backed S3 stores (SeaweedFS, MinIO) turn ``/`` into directories: they cannot hold both
``a`` and ``a/b``, collapse ``a//b``, and list a directory's keys before ``a!``. So an OSS key is
stored without ``/``: ``.`` becomes ``..`` and ``/`` becomes ``.~``. Every other character stays, the
encoding is a prefix code, and ``.`` < ``/`` < ``0`` with ``..`` < ``.~``, so it preserves both byte
order and prefixes: ListObjectsV2 on encoded keys lists in OSS's order. Keys that contain ``/`` in
the store are therefore ossdoc's own (``.ossdoc/...``), never an object's.
"""

from __future__ import annotations

from dataclasses import dataclass

from ossdoc import errors

# SeaweedFS keeps a key as one file name, at most 255 bytes (AWS allows 1024 per key).
MAX_NAME_BYTES = 255
# Sorts after every character a key may continue with.
_HIGHEST = "\U0010ffff"


def encode(key: str) -> str:
    return key.replace(".", "..").replace("/", ".~")


def decode(name: str) -> str:
    out = []
    pieces = iter(name)
    for char in pieces:
        if char == ".":
            char = "." if next(pieces) == "." else "/"
        out.append(char)
    return "".join(out)


def encode_checked(key: str) -> str:
    name = encode(key)
    if len(name.encode()) > MAX_NAME_BYTES:
        raise errors.InvalidObjectName(
            f"The S3 storage backend keeps keys up to {MAX_NAME_BYTES} bytes "
            f"(after doubling '.' and '/'); this key needs {len(name.encode())}."
        )
    return name


def start_after(after: bytes) -> str:
    """An encoded StartAfter no greater than the encoding of any key sorting after ``after``.

    ``after`` may end in bytes no UTF-8 string has (listing passes ``prefix + 0xFF`` to skip a whole
    prefix): its valid part is kept and followed by the highest character, so the store skips what it
    can; the caller still drops keys not after ``after``."""
    try:
        return encode(after.decode())
    except UnicodeDecodeError as exc:
        valid = after[: exc.start].decode()
        return encode(valid) + _HIGHEST


@dataclass(frozen=True)
class Layout:
    """Where a deployment's things live: ``home`` bucket and ``root`` prefix for ossdoc's own records
    and blobs; OSS buckets as prefixes of home (``prefix`` mode) or as S3 buckets (``bucket`` mode)."""

    home: str
    root: str = ""  # "" or ending in "/"
    buckets_are_s3_buckets: bool = False

    def objects(self, bucket: str) -> tuple[str, str]:
        """(S3 bucket, key prefix) holding the object pointers of an OSS bucket."""
        if self.buckets_are_s3_buckets:
            return bucket, ""
        return self.home, f"{self.root}{bucket}/"

    def bucket_record(self, bucket: str) -> str:
        return f"{self.root}.ossdoc/buckets/{bucket}"

    def buckets(self) -> str:
        return f"{self.root}.ossdoc/buckets/"

    def blob(self, blob_id: str) -> str:
        return f"{self.root}.ossdoc/blobs/{blob_id[:2]}/{blob_id}"

    def uploads(self, bucket: str) -> str:
        return f"{self.root}.ossdoc/uploads/{bucket}/"

    def parts(self, upload_id: str) -> str:
        return f"{self.root}.ossdoc/parts/{upload_id}/"


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket[/prefix]`` → (bucket, root); ``s3`` alone means the bucket ``ossdoc``."""
    if url == "s3":
        return "ossdoc", ""
    if not url.startswith("s3://") or not url[5:].strip("/"):
        raise ValueError(f"storage must be 'local', 's3' or 's3://bucket[/prefix]', not {url!r}")
    bucket, _, prefix = url[5:].partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""
