from __future__ import annotations

import random
import urllib.parse
from urllib.parse import parse_qsl

import pytest
from starlette.responses import Response

from ossdoc import errors
from ossdoc.wire.context import Context, parse_query, unquote
from ossdoc.wire.routes import router
from ossdoc.wire.routing import Router


async def _handler(ctx: Context) -> Response:
    return Response()


def test_subresource_wins_over_plain_route() -> None:
    r = Router()
    r.route("PUT", "object")(_handler)
    sub = r.route("PUT", "object", "acl")(_handler)
    assert r.resolve("PUT", "object", {"acl"}).handler is sub
    assert r.resolve("PUT", "object", {"acl"}).subresource == "acl"
    assert r.resolve("PUT", "object", set()).subresource is None


def test_project_routes() -> None:
    assert router.resolve("PUT", "object", {"uploadId", "partNumber"}).handler.__name__ == "upload_part"
    assert router.resolve("POST", "object", {"uploads"}).handler.__name__ == "initiate"
    assert router.resolve("POST", "object", {"append", "position"}).handler.__name__ == "append_object"
    assert router.resolve("GET", "bucket", {"list-type", "prefix"}).handler.__name__ == "list_objects"
    assert router.resolve("GET", "service", set()).handler.__name__ == "list_buckets"


def test_reads_of_features_ossdoc_lacks_have_routes() -> None:
    # routes/defaults.py answers them as OSS answers a bucket that never used the feature
    for scope, subresource in [("bucket", "lifecycle"), ("bucket", "live"), ("object", "symlink")]:
        assert router.resolve("GET", scope, {subresource}).subresource == subresource  # type: ignore[arg-type]
    assert router.resolve("GET", "bucket", {"versions"}).handler.__name__ == "list_object_versions"


@pytest.mark.parametrize(
    ("method", "scope", "query"),
    [("PUT", "bucket", {"lifecycle"}), ("PUT", "bucket", {"tagging"}), ("PUT", "object", {"symlink"})],
)
def test_unimplemented_features(method: str, scope: str, query: set[str]) -> None:
    with pytest.raises(errors.OSSError) as info:
        router.resolve(method, scope, query)  # type: ignore[arg-type]
    assert (info.value.status, info.value.code) == (501, "NotImplemented")


def test_unknown_method_is_405() -> None:
    with pytest.raises(errors.OSSError) as info:
        router.resolve("PATCH", "object", set())
    assert (info.value.status, info.value.code) == (405, "MethodNotAllowed")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "acl",
        "acl&uploads",
        "uploadId=abc&partNumber=3",
        "a=&=b&&c=1=2&",
        "OSSAccessKeyId=LTAI&Expires=1796249908&Signature=%2B5yh%2F3na%3D",
        "response-content-disposition=attachment%3B%20filename%3D%22%E6%96%87.txt%22",
        "prefix=a+b&marker=%2Bc%2b",
        "x=%zz&y=%&z=%e6%96",  # malformed and truncated escapes, invalid UTF-8
        "k=%ff%fe&%E4%B8%AD=v",
        "semi;colon=1;2",
    ],
)
def test_query_pairs_are_parse_qsl_s(raw: str) -> None:
    assert parse_query(raw) == parse_qsl(raw, keep_blank_values=True)


def test_unquote_is_urllibs() -> None:
    """ossdoc's unquote against urllib's on 20,000 random texts of escapes, broken escapes, bytes that
    are not UTF-8 and characters that are not ASCII, replacing and strict."""
    rng = random.Random(20261203)
    pieces = [
        "%",
        "%2",
        "%2F",
        "%2b",
        "%E4%B8%AD",
        "%E4%B8",
        "%FF",
        "%zz",
        "%%",
        "a",
        "Z",
        "+",
        "/",
        "=",
        "é",
        "中",
    ]
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert unquote(text) == urllib.parse.unquote(text), text
        try:
            expected: str | None = urllib.parse.unquote(text, errors="strict")
        except UnicodeDecodeError:
            expected = None
        try:
            got: str | None = unquote(text, errors="strict")
        except UnicodeDecodeError:
            got = None
        assert got == expected, text
