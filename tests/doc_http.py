"""Raw HTTP helpers for document-processing tests against a real ossdoc: V1-signed like oss2."""

from __future__ import annotations

import base64
import re
import uuid
from email.utils import formatdate

import httpx
import oss2

from ossdoc import client
from ossdoc_server import RunningServer


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def credentials(server: RunningServer) -> client.Credentials:
    return client.Credentials(server.access_key_id, server.access_key_secret)


def make_bucket(server: RunningServer) -> str:
    name = f"doc-{uuid.uuid4().hex[:12]}"
    auth = oss2.Auth(server.access_key_id, server.access_key_secret)
    oss2.Bucket(auth, server.endpoint, name).create_bucket()
    return name


def signed_headers(
    server: RunningServer, method: str, resource: str, headers: dict[str, str] | None = None
) -> dict[str, str]:
    """``resource`` is ``/<bucket>/<key>?<query as signed>``."""
    all_headers = {"Date": formatdate(usegmt=True), "Content-Type": client.FORM_TYPE, **(headers or {})}
    all_headers["Authorization"] = client.sign_v1(credentials(server), method, resource, all_headers)
    return all_headers


def post(
    server: RunningServer,
    bucket: str,
    body: str,
    *,
    key: str = "example.doc",
    headers: dict[str, str] | None = None,
    method: str = "POST",
    query: str = "x-oss-process",
    signed: bool = True,
    timeout: float = 60,
) -> httpx.Response:
    """One request to ``/<bucket>/<key>?<query>``, signed unless ``signed`` is false."""
    if signed:
        all_headers = signed_headers(server, method, f"/{bucket}/{key}?{query}", headers)
    else:
        all_headers = {"Content-Type": client.FORM_TYPE, **(headers or {})}
    url = f"{server.endpoint}/{bucket}/{key}?{query}"
    return httpx.request(method, url, content=body.encode(), headers=all_headers, timeout=timeout)


def error_code(reply: httpx.Response) -> str:
    """The <Code> of an OSS XML error reply, after checking the reply is one."""
    assert reply.headers["content-type"].startswith("application/xml")
    assert reply.headers["x-oss-request-id"]
    match = re.search(r"<Code>(.*?)</Code>", reply.text)
    assert match, reply.text
    assert f"<RequestId>{reply.headers['x-oss-request-id']}</RequestId>" in reply.text
    return match.group(1)
