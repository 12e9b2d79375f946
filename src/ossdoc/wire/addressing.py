"""Which bucket and key a request addresses: path style or virtual-hosted style."""

from __future__ import annotations

import ipaddress

from ossdoc import errors
from ossdoc.wire.context import unquote

MAX_KEY_BYTES = 1023


def split_host(host: str) -> str:
    """The host name of a Host header, without port (IPv6 brackets kept off)."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def decode_path(raw_path: bytes) -> str:
    try:
        text = raw_path.decode("ascii")
    except UnicodeDecodeError:
        text = raw_path.decode("utf-8", errors="replace")
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError as exc:
        raise errors.InvalidObjectName("The object name is not valid UTF-8.") from exc


def resolve(host: str, raw_path: bytes, base_domain: str) -> tuple[str | None, str | None]:
    """Return (bucket, key); key is None for bucket-level and service-level requests."""
    name = split_host(host).lower()
    path = decode_path(raw_path or b"/")
    if not path.startswith("/"):
        path = "/" + path
    suffix = "." + base_domain.lower() if base_domain else None
    if suffix and name.endswith(suffix) and not _is_ip(name):
        bucket: str | None = name[: -len(suffix)]
        key: str | None = path[1:] or None
    else:
        rest = path[1:]
        if not rest:
            return None, None
        bucket, sep, key_part = rest.partition("/")
        key = key_part if sep and key_part else None
    return bucket, key


def validate_key(key: str) -> None:
    if len(key.encode("utf-8", errors="surrogatepass")) > MAX_KEY_BYTES:
        raise errors.InvalidObjectName("The length of the object name must be less than 1024 bytes.")
    if key.startswith(("/", "\\")):
        raise errors.InvalidObjectName("The object name must not start with '/' or '\\'.")
    if "\x00" in key:
        raise errors.InvalidObjectName("The object name must not contain NUL.")
