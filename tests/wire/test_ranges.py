from __future__ import annotations

import pytest

from ossdoc import errors
from ossdoc.wire.ranges import parse_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, (0, 10)),
        ("bytes=90-", 100, (90, 100)),
        ("bytes=-10", 100, (90, 100)),
        ("bytes=-500", 100, (0, 100)),
        ("bytes=50-500", 100, (50, 100)),
        ("bytes=99-99", 100, (99, 100)),
        (None, 100, None),
        ("", 100, None),
    ],
)
def test_satisfiable_ranges(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size, standard=False) == expected
    assert parse_range(header, size, standard=True) == expected


@pytest.mark.parametrize("header", ["bytes=abc", "bytes=0-1,5-6", "items=0-1", "bytes=-", "bytes=9-3"])
def test_malformed_range_returns_whole_object(header: str) -> None:
    assert parse_range(header, 100, standard=False) is None


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=200-300", "bytes=-0"])
def test_unsatisfiable_range_is_lenient_by_default(header: str) -> None:
    assert parse_range(header, 100, standard=False) is None


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=200-300", "bytes=-0", "bytes=9-3"])
def test_unsatisfiable_range_with_standard_behaviour_is_416(header: str) -> None:
    with pytest.raises(errors.OSSError) as info:
        parse_range(header, 100, standard=True)
    assert info.value.status == 416
    assert info.value.code == "InvalidRange"
    assert info.value.headers["Content-Range"] == "bytes */100"


def test_empty_object_range() -> None:
    assert parse_range("bytes=0-", 0, standard=False) is None
    with pytest.raises(errors.OSSError):
        parse_range("bytes=0-", 0, standard=True)
