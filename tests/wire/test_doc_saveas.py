"""``|sys/saveas``: the result stored as an object, with the reply OSS gives for a saved result."""

from __future__ import annotations

import base64

import oss2
import pytest

from doc_http import b64, error_code, make_bucket, post
from ossdoc_server import RunningServer


def enc(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.fixture
def bucket(server: RunningServer) -> oss2.Bucket:
    auth = oss2.Auth(server.access_key_id, server.access_key_secret)
    return oss2.Bucket(auth, server.endpoint, make_bucket(server))


def test_oss2_saveas_in_the_same_bucket(server: RunningServer, bucket: oss2.Bucket) -> None:
    process = f"doc/translate,language_en_US,content_{b64('hello world')}|sys/saveas,o_{enc('out/译文.txt')}"
    result = bucket.process_object("placeholder.txt", process)
    assert (result.bucket, result.object, result.process_status) == (bucket.bucket_name, "out/译文.txt", "OK")
    stored = bucket.get_object("out/译文.txt")
    text = stored.read().decode()
    assert result.fileSize == len(text.encode())
    assert "HELLO WORLD" in text  # the fake backend shouts the prompt back
    assert stored.headers["Content-Type"] == "text/plain;charset=utf-8"
    # oss2 reads the body itself; the rest of the reply (the text, usage) is checked over raw HTTP.
    raw = post(server, bucket.bucket_name, f"x-oss-process={process}").json()
    assert raw["Output"] == {"Text": text, "FinishReason": "stop"}
    assert raw["RequestID"] and raw["Usage"]["OutputTokens"] > 0


def test_saveas_into_another_bucket(server: RunningServer, bucket: oss2.Bucket) -> None:
    other = make_bucket(server)
    process = f"doc/summarize,content_{b64('a b c')}|sys/saveas,o_{enc('s.txt')},b_{enc(other)}"
    reply = post(server, bucket.bucket_name, f"x-oss-process={process}")
    assert reply.status_code == 200, reply.text
    assert reply.json()["bucket"] == other
    auth = oss2.Auth(server.access_key_id, server.access_key_secret)
    assert oss2.Bucket(auth, server.endpoint, other).get_object("s.txt").read()


@pytest.mark.parametrize(
    ("tail", "status", "code"),
    [
        ("|sys/saveas,o_!!!", 400, "InvalidArgument"),
        ("|sys/saveas", 400, "InvalidArgument"),
        (f"|sys/saveas,o_{enc('k')},b_{enc('no-such-bucket-here')}", 404, "NoSuchBucket"),
        (f"|sys/saveas,o_{enc('k')},b_{enc('Bad_Name')}", 400, "InvalidBucketName"),
        (f"|sys/saveas,o_{enc('/leading')}", 400, "InvalidObjectName"),
        (f"|image/resize,w_100|sys/saveas,o_{enc('k')}", 400, "InvalidArgument"),
        (f",format_event-stream|sys/saveas,o_{enc('k')}", 400, "InvalidArgument"),
    ],
)
def test_bad_saveas(server: RunningServer, bucket: oss2.Bucket, tail: str, status: int, code: str) -> None:
    reply = post(server, bucket.bucket_name, f"x-oss-process=doc/polish,content_{b64('x')}{tail}")
    assert reply.status_code == status, reply.text
    assert error_code(reply) == code
    assert [o.key for o in oss2.ObjectIterator(bucket)] == []
