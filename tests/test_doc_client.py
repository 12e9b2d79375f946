from __future__ import annotations

import base64

import oss2
from oss2.http import Request

from ossdoc import client
from ossdoc.client import Credentials


def test_v1_signature_matches_oss2() -> None:
    auth = oss2.Auth("LTAIexample", "secret-example")
    request = Request(
        "POST",
        "http://127.0.0.1/bucket/dir/é%20x.txt",
        data=b"x-oss-process=doc/polish",
        params={"x-oss-process": ""},
        headers={"Content-Type": client.FORM_TYPE, "x-oss-meta-a": "1", "X-Oss-Date-Ignored": "z"},
    )
    auth._sign_request(request, "bucket", "dir/é x.txt")
    headers = {k: v for k, v in request.headers.items() if v is not None and k.lower() != "authorization"}
    ours = client.sign_v1(
        Credentials("LTAIexample", "secret-example"), "POST", "/bucket/dir/é x.txt?x-oss-process", headers
    )
    assert ours == request.headers["authorization"]


def test_process_string() -> None:
    process = client.process_string("doc/translate", "四大", {"language": "en_US"}, stream=True)
    action, language, content, fmt = process.split(",")
    assert (action, language, fmt) == ("doc/translate", "language_en_US", "format_event-stream")
    encoded = content.removeprefix("content_")
    assert "=" not in encoded
    assert base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode() == "四大"


def test_sse_parsing() -> None:
    lines = [
        "id: 0",
        "event: message",
        'data: {"Output":{"Text":"A"}}',
        "",
        ": ping",
        "",
        "id: 1",
        "event: Result",
        'data: {"Output":{"Text":"AB"}}',
        "",
    ]
    events = list(client._events(iter(lines)))
    assert events == [
        {"event": "message", "Output": {"Text": "A"}},
        {"event": "Result", "Output": {"Text": "AB"}},
    ]
