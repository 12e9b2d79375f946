"""Requests that the SDKs refuse to send (bad names, malformed bodies), signed by oss2's own signer."""

from __future__ import annotations

from urllib.parse import quote

import oss2
import requests

from ossdoc_server import RunningServer


def signed(
    server: RunningServer,
    method: str,
    bucket: str,
    key: str = "",
    *,
    params: dict[str, str] | None = None,
    data: bytes = b"",
    headers: dict[str, str] | None = None,
) -> requests.Response:
    auth = oss2.Auth(server.access_key_id, server.access_key_secret)
    url = f"{server.endpoint}/{bucket}/{quote(key)}"
    req = oss2.http.Request(method, url, data=data, params=params or {}, headers=headers or {})
    auth._sign_request(req, bucket, key)
    return requests.request(method, url, params=req.params, data=data, headers=dict(req.headers), timeout=30)
