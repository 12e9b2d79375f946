"""Object metadata in HTTP headers: from a request into ObjectMeta, from a record into a response."""

from __future__ import annotations

import functools
import mimetypes
import posixpath
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

from ossdoc import errors
from ossdoc.backends.storage.base import ObjectMeta, ObjectRecord
from ossdoc.services.naming import OBJECT_ACLS, STORAGE_CLASSES, check_acl
from ossdoc.wire.conditions import http_date

STANDARD = ("content-disposition", "content-encoding", "content-language", "cache-control", "expires")
USER_META_PREFIX = "x-oss-meta-"
MAX_USER_META_BYTES = 8 * 1024
MAX_TAGS = 10


def response_value(name: str, value: str) -> str:
    """A client-chosen value (``response-content-disposition`` and the like) fit to send as a
    header. CR, LF and other controls would split or corrupt the reply: refused. Text beyond
    Latin-1 (a UTF-8 file name) goes out as its UTF-8 bytes, which is what the client sent."""
    if any((ord(char) < 0x20 and char != "\t") or ord(char) == 0x7F for char in value):
        raise errors.InvalidArgument(
            f"The value of {name} holds characters not allowed in an HTTP header.", ArgumentName=name
        )
    return value.encode("utf-8", errors="surrogateescape").decode("latin-1")


def guess_content_type(key: str) -> str:
    ext = posixpath.splitext(key)[1]
    # A scheme ("data:...") or a compression suffix (.gz, .tgz) makes the answer depend on more.
    if ":" in key or ext in mimetypes.encodings_map or ext.lower() in mimetypes.suffix_map:
        return _guess(key)
    return _guess_by_extension(ext.lower())


def _guess(key: str) -> str:
    guessed, _ = mimetypes.guess_type(key, strict=False)
    return guessed or "application/octet-stream"


@functools.lru_cache(maxsize=256)
def _guess_by_extension(ext: str) -> str:
    # mimetypes' last step (strict=False), without parsing the key as a URL on every PUT.
    return mimetypes.types_map.get(ext) or mimetypes.common_types.get(ext) or "application/octet-stream"


if not mimetypes.inited:  # its tables, read above, are loaded as its first guess would load them
    mimetypes.init()


def meta_from_headers(headers: Mapping[str, str], key: str) -> ObjectMeta:
    user = {k.lower(): v for k, v in headers.items() if k.lower().startswith(USER_META_PREFIX)}
    size = sum(len(k) + len(v) for k, v in user.items())
    if size > MAX_USER_META_BYTES:
        raise errors.InvalidArgument(
            f"Your metadata headers exceed the maximum allowed size ({size} > {MAX_USER_META_BYTES} bytes).",
            ArgumentName="x-oss-meta-*",
        )
    storage_class = headers.get("x-oss-storage-class", "Standard")
    if storage_class not in STORAGE_CLASSES:
        raise errors.InvalidArgument(
            f"Invalid storage class {storage_class!r}.", ArgumentName="x-oss-storage-class"
        )
    return ObjectMeta(
        content_type=headers.get("content-type") or guess_content_type(key),
        headers={name: headers[name] for name in STANDARD if name in headers},
        user_meta=user,
        acl=check_acl(headers.get("x-oss-object-acl", "default"), OBJECT_ACLS),
        tags=parse_tagging(headers.get("x-oss-tagging", "")),
        storage_class=storage_class,
    )


def parse_tagging(raw: str) -> dict[str, str]:
    if not raw:
        return {}
    tags = dict(parse_qsl(raw, keep_blank_values=True))
    check_tags(tags)
    return tags


def check_tags(tags: Mapping[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise errors.InvalidArgument(f"An object can have at most {MAX_TAGS} tags.", ArgumentName="Tagging")
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise errors.InvalidArgument(
                "A tag key is 1-128 characters and its value at most 256.", ArgumentName=key
            )


def format_tagging(tags: Mapping[str, str]) -> str:
    return urlencode(tags)


def object_headers(record: ObjectRecord) -> dict[str, str]:
    meta = record.meta
    headers = {
        "ETag": f'"{record.etag}"',
        "Last-Modified": http_date(record.last_modified),
        "Content-Type": meta.content_type,
        "Accept-Ranges": "bytes",
        "x-oss-object-type": record.object_type,
        "x-oss-storage-class": meta.storage_class,
        "x-oss-hash-crc64ecma": str(record.crc64),
    }
    headers.update(meta.headers)
    headers.update(meta.user_meta)
    if record.object_type == "Appendable":
        headers["x-oss-next-append-position"] = str(record.size)
    if meta.tags:
        headers["x-oss-tagging-count"] = str(len(meta.tags))
    return headers


def write_headers(record: ObjectRecord) -> dict[str, str]:
    """What PutObject/AppendObject/CompleteMultipartUpload answer with."""
    return {"ETag": f'"{record.etag}"', "x-oss-hash-crc64ecma": str(record.crc64)}
