from __future__ import annotations

import pytest

from ossdoc import errors
from ossdoc.wire.addressing import resolve, validate_key


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("127.0.0.1:8080", b"/", (None, None)),
        ("127.0.0.1:8080", b"/bkt", ("bkt", None)),
        ("127.0.0.1:8080", b"/bkt/", ("bkt", None)),
        ("127.0.0.1:8080", b"/bkt/a/b.txt", ("bkt", "a/b.txt")),
        ("127.0.0.1", b"/bkt/a%20b%2Bc", ("bkt", "a b+c")),
        ("127.0.0.1", b"/bkt/%E4%B8%AD%E6%96%87", ("bkt", "中文")),
        ("127.0.0.1", b"/bkt/..%2F..%2Fetc", ("bkt", "../../etc")),
        ("[::1]:8080", b"/bkt/k", ("bkt", "k")),
        ("localhost:8080", b"/bkt/k", ("bkt", "k")),
        ("bkt.localhost:8080", b"/", ("bkt", None)),
        ("bkt.localhost:8080", b"/dir/k", ("bkt", "dir/k")),
        ("BKT.LOCALHOST", b"/k", ("bkt", "k")),
    ],
)
def test_resolve(host: str, path: bytes, expected: tuple[str | None, str | None]) -> None:
    assert resolve(host, path, "localhost") == expected


def test_virtual_host_on_custom_domain() -> None:
    assert resolve("docs.oss.example.com", b"/a", "oss.example.com") == ("docs", "a")
    assert resolve("oss.example.com", b"/docs/a", "oss.example.com") == ("docs", "a")


def test_invalid_utf8_path() -> None:
    with pytest.raises(errors.OSSError) as info:
        resolve("127.0.0.1", b"/bkt/%FF%FE", "localhost")
    assert info.value.code == "InvalidObjectName"


@pytest.mark.parametrize("key", ["/leading", "\\leading", "x" * 1024, "中" * 342])
def test_invalid_keys(key: str) -> None:
    with pytest.raises(errors.OSSError) as info:
        validate_key(key)
    assert info.value.code == "InvalidObjectName"


@pytest.mark.parametrize("key", ["a", "x" * 1023, "中" * 341, "../x", "a b%c", "a//b"])
def test_valid_keys(key: str) -> None:
    validate_key(key)
