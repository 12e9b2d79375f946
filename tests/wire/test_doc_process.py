"""Document processing through a real ``ossdoc serve`` (fake LLM), with the official SDKs and raw HTTP."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import uuid
from collections.abc import Iterator
from typing import Any

import alibabacloud_oss_v2 as oss
import httpx
import oss2
import pytest

from doc_http import b64, error_code, make_bucket, post, signed_headers
from ossdoc.backends.llm.fake import pieces, shout
from ossdoc.services.docs import OPERATIONS, Args, Progress
from ossdoc.services.docs.cleaning import Cleaner
from ossdoc.wire import sse
from ossdoc_server import RunningServer

SIX = {
    "doc/translate": "language_en_US",
    "doc/polish": "",
    "doc/summarize": "",
    "doc/continue": "history_" + base64.urlsafe_b64encode(b'[{"content":"Earlier."}]').decode().rstrip("="),
    "doc/enrich": "",
    "doc/rephrase": "tone_friendly",
}
TEXT = "四大名著，即四大小说名著，是指《三国演义》、《西游记》、《水浒传》、《红楼梦》4部中国古典章回小说。"


def process(action: str, text: str = TEXT, *params: str) -> str:
    return ",".join([action, *[p for p in params if p], f"content_{b64(text)}"])


@pytest.fixture(scope="module")
def bucket(server: RunningServer) -> str:
    return make_bucket(server)


# The official SDKs -------------------------------------------------------------------------------


@pytest.fixture
def oss2_replies(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """oss2's ProcessObjectResult reads the JSON body and keeps only image fields: keep it all."""
    replies: list[dict[str, Any]] = []

    class Keep(oss2.models.ProcessObjectResult):  # type: ignore[misc]
        def __init__(self, resp: Any) -> None:
            body = resp.read()
            replies.append(json.loads(body))
            resp.read = lambda amt=None: body  # for oss2's own json.loads
            super().__init__(resp)

    monkeypatch.setattr(oss2.api, "ProcessObjectResult", Keep)
    return replies


@pytest.mark.parametrize("action", list(SIX))
def test_oss2_process_object(
    server: RunningServer, bucket: str, action: str, oss2_replies: list[dict[str, Any]]
) -> None:
    sdk = oss2.Bucket(oss2.Auth(server.access_key_id, server.access_key_secret), server.endpoint, bucket)
    result = sdk.process_object("example.doc", process(action, TEXT, SIX[action]))
    assert result.status == 200
    reply = oss2_replies[0]
    assert list(reply) == ["RequestID", "Output", "Usage"]
    assert reply["RequestID"] == result.request_id
    assert reply["Output"]["FinishReason"] == "stop"
    assert reply["Output"]["Text"].strip()
    assert reply["Usage"]["InputTokens"] > 0 and reply["Usage"]["OutputTokens"] > 0


@pytest.fixture
def v2_bodies(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    bodies: list[bytes] = []
    original = oss.serde_utils.deserialize_process_body

    def keep(result: Any, op_output: Any) -> Any:
        bodies.append(op_output.http_response.content)
        return original(result, op_output)

    monkeypatch.setattr(oss.serde_utils, "deserialize_process_body", keep)
    return bodies


@pytest.mark.parametrize("action", list(SIX))
def test_v2_sdk_process_object(
    server: RunningServer, bucket: str, action: str, v2_bodies: list[bytes]
) -> None:
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        server.access_key_id, server.access_key_secret
    )
    cfg.region = "cn-hangzhou"
    cfg.endpoint = server.endpoint
    sdk = oss.Client(cfg)
    result = sdk.process_object(
        oss.ProcessObjectRequest(bucket=bucket, key="example.doc", process=process(action, TEXT, SIX[action]))
    )
    assert result.status_code == 200
    reply = json.loads(v2_bodies[0])
    assert reply["RequestID"] == result.request_id
    assert reply["Output"]["FinishReason"] == "stop"
    assert reply["Output"]["Text"].strip()


# Raw HTTP: JSON ----------------------------------------------------------------------------------


def test_json_reply_headers_and_gzip(server: RunningServer, bucket: str) -> None:
    body = "x-oss-process=" + process("doc/polish", "hello world")
    plain = post(server, bucket, body, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "application/json;charset=UTF-8"
    assert "content-encoding" not in plain.headers
    assert int(plain.headers["x-oss-server-time"]) >= 0
    assert plain.json()["RequestID"] == plain.headers["x-oss-request-id"]

    reply = post(server, bucket, body, headers={"Accept-Encoding": "gzip"})
    assert reply.headers["content-encoding"] == "gzip"
    assert reply.headers["vary"] == "Accept-Encoding"
    assert json.loads(reply.content)["Output"]["FinishReason"] == "stop"  # httpx decoded it
    assert gzip.decompress(_raw_body(server, bucket, body))[:14] == b'{"RequestID":"'


def _raw_body(server: RunningServer, bucket: str, body: str) -> bytes:
    headers = signed_headers(server, "POST", f"/{bucket}/k?x-oss-process", {"Accept-Encoding": "gzip"})
    url = f"{server.endpoint}/{bucket}/k?x-oss-process"
    with httpx.stream("POST", url, content=body.encode(), headers=headers) as reply:
        return b"".join(reply.iter_raw())


def test_percent_encoded_body_without_content_type(server: RunningServer, bucket: str) -> None:
    encoded = "x-oss-process=" + process("doc/translate", TEXT, "language_en_US").replace(",", "%2C")
    reply = post(server, bucket, encoded, headers={"Content-Type": ""})
    assert reply.status_code == 200, reply.text


# Raw HTTP: SSE -----------------------------------------------------------------------------------


def sse_events(reply: httpx.Response) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(id, event, data) of each event; comments (pings) skipped."""
    for block in reply.text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if lines:
            fields = dict(line.split(": ", 1) for line in lines)
            yield fields["id"], fields["event"], json.loads(fields["data"])


def test_sse_stream(server: RunningServer, bucket: str) -> None:
    body = "x-oss-process=" + process("doc/translate", TEXT, "language_en_US", "format_event-stream")
    reply = post(server, bucket, body)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/event-stream;charset=UTF-8"
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["x-accel-buffering"] == "no"
    assert reply.headers["transfer-encoding"] == "chunked"
    assert reply.headers["x-oss-request-id"]
    events = list(sse_events(reply))
    assert [e[0] for e in events] == [str(n) for n in range(len(events))]
    assert [e[1] for e in events] == ["message"] * (len(events) - 1) + ["Result"]
    assert [e[2]["Output"]["FinishReason"] for e in events] == ["null"] * (len(events) - 1) + ["stop"]
    assert all(list(e[2]) == ["RequestId", "Output", "Usage"] and e[2]["RequestId"] == "" for e in events)
    texts = [e[2]["Output"]["Text"] for e in events]
    assert all(b.startswith(a) for a, b in itertools.pairwise(texts))
    usage = [e[2]["Usage"]["OutputTokens"] for e in events]
    assert usage == sorted(usage)
    assert texts[-1]


def test_sse_exact_bytes_for_the_scripted_reply(server: RunningServer, bucket: str) -> None:
    """The fake shouts the prompt back; every event is exactly what that reply gives at its token."""
    text = "The quick brown fox."
    body = "x-oss-process=" + process("doc/translate", text, "language_fr_FR", "format_event-stream")
    reply = post(server, bucket, body)
    op = OPERATIONS["doc/translate"]
    messages = op.prompt(text, Args({"language": "fr_FR"}))
    script = pieces(shout(messages))
    prompt_tokens = sum(len(pieces(m.content)) for m in messages)
    cleaner = Cleaner(text, op.labels)
    text_at = {n: cleaner.feed("".join(script[:n])) for n in range(1, len(script) + 1)}
    expected = []
    for event_id, event, data in sse_events(reply):
        n = data["Usage"]["OutputTokens"]
        if event == "Result":
            progress = Progress(cleaner.finish("".join(script)), "stop", prompt_tokens, len(script))
        else:
            progress = Progress(text_at[n], None, prompt_tokens, n)
        expected.append(sse.frame(int(event_id), event, sse.payload(progress, "")))
    assert expected[-1].startswith(b"id: ") and b"\nevent: Result\n" in expected[-1]
    assert reply.content == b"".join(expected)


# Errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("x-oss-process=" + process("doc/frobnicate"), "InvalidArgument"),
        ("x-oss-process=" + process("doc/translate", TEXT, "language_de_DE"), "InvalidArgument"),
        ("x-oss-process=" + process("doc/translate", TEXT), "InvalidArgument"),
        ("x-oss-process=doc/polish,content_!!!!", "InvalidArgument"),
        ("x-oss-process=" + process("doc/polish", "x" * 19_501), "InvalidArgument"),
        ("doc/polish", "InvalidArgument"),
        ("x-oss-process=" + process("doc/rephrase", TEXT, "tone_sarcastic"), "InvalidArgument"),
    ],
)
def test_bad_requests(server: RunningServer, bucket: str, body: str, code: str) -> None:
    reply = post(server, bucket, body)
    assert reply.status_code == 400
    assert error_code(reply) == code


def test_content_at_the_limit_is_accepted(server: RunningServer, bucket: str) -> None:
    assert post(server, bucket, "x-oss-process=" + process("doc/polish", "x" * 19_500)).status_code == 200


def test_get_is_method_not_allowed(server: RunningServer, bucket: str) -> None:
    reply = post(server, bucket, "", method="GET", query="x-oss-process=doc/translate,language_en_US")
    assert reply.status_code == 405
    assert error_code(reply) == "MethodNotAllowed"
    image = post(server, bucket, "", method="GET", query="x-oss-process=image/resize,w_100")
    assert image.status_code == 501
    assert error_code(image) == "NotImplemented"


def test_anonymous_is_refused(server: RunningServer, bucket: str) -> None:
    reply = post(server, bucket, "x-oss-process=" + process("doc/polish"), signed=False)
    assert reply.status_code == 403
    assert error_code(reply) == "AccessDenied"


def test_missing_bucket(server: RunningServer) -> None:
    reply = post(server, f"nobucket-{uuid.uuid4().hex[:8]}", "x-oss-process=" + process("doc/polish"))
    assert reply.status_code == 404
    assert error_code(reply) == "NoSuchBucket"


def test_bad_content_md5(server: RunningServer, bucket: str) -> None:
    body = "x-oss-process=" + process("doc/polish")
    reply = post(server, bucket, body, headers={"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="})
    assert reply.status_code == 400
    assert error_code(reply) == "InvalidDigest"
