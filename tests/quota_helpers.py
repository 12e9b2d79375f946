"""What the quota tests share: requests signed with a given key, and staying clear of the minute's end
(the quotas count in the clock's minutes; a test that straddles two would see two budgets)."""

from __future__ import annotations

import dataclasses
import time

import httpx

from doc_http import b64, post
from ossdoc_server import RunningServer


def as_key(server: RunningServer, key_id: str, secret: str) -> RunningServer:
    return dataclasses.replace(server, access_key_id=key_id, access_key_secret=secret)


def clear_of_the_minute_end(seconds_needed: float = 20.0) -> None:
    """Wait for the next minute if this one has less than ``seconds_needed`` left."""
    left = 60 - time.time() % 60
    if left < seconds_needed:
        time.sleep(left + 0.1)


def process(
    server: RunningServer, bucket: str, text: str = "hello quota", stream: bool = False
) -> httpx.Response:
    body = f"x-oss-process=doc/polish,content_{b64(text)}" + (",format_event-stream" if stream else "")
    return post(server, bucket, body, key="k")


def submit(server: RunningServer, bucket: str, text: str = "hello task") -> httpx.Response:
    saveas = b64("out.txt")
    body = f"x-oss-async-process=doc/polish,content_{b64(text)}|sys/saveas,o_{saveas}"
    return post(server, bucket, body, key="k", query="x-oss-async-process")
