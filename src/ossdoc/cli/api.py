"""The OSS requests the CLI makes, signed with V1 (what oss2 sends) over one httpx connection pool.

The project's own signer and httpx are enough for the dozen operations the CLI needs; oss2 would add
aliyun-python-sdk-core, pycryptodome and crcmod for the same requests, and its resumable transfers
report their parts through callbacks the CLI would still have to wrap."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, urlencode
from xml.etree.ElementTree import Element

import httpx
from defusedxml.ElementTree import fromstring

from ossdoc.client import Credentials, OSSClientError, _error, sign_v1
from ossdoc.wire import auth_v1
from ossdoc.wire.auth_subresources import OSS2_SUBRESOURCES

_SIGNED = OSS2_SUBRESOURCES  # the sub-resources V1 signs, as oss2 does


@dataclass
class Listing:
    objects: list[dict[str, Any]] = field(default_factory=list)  # key, size, etag, last_modified
    prefixes: list[str] = field(default_factory=list)


class Client:
    def __init__(self, endpoint: str, credentials: Credentials, timeout: float = 120.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.credentials = credentials
        self.http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        bucket: str = "",
        key: str = "",
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | Iterator[bytes] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send a signed request; an OSS error reply raises OSSClientError."""
        params = dict(params or {})
        path = self._path(bucket, key)
        sent = {"Date": formatdate(usegmt=True), **(headers or {})}
        sent["Authorization"] = sign_v1(self.credentials, method, self._resource(bucket, key, params), sent)
        query = urlencode(params, quote_via=quote)
        url = self.endpoint + path + ("?" + _bare(query) if query else "")
        request = self.http.build_request(method, url, headers=sent, content=content)
        reply = self.http.send(request, stream=stream)
        if reply.status_code >= 300:
            body = reply.read().decode("utf-8", "replace")
            if not body and "x-oss-err" in reply.headers:  # a HEAD's error document
                body = base64.b64decode(reply.headers["x-oss-err"]).decode("utf-8", "replace")
            error = _error(reply.status_code, body, reply.headers)
            reply.close()
            raise error
        return reply

    @contextmanager
    def stream(
        self, method: str, bucket: str, key: str, headers: Mapping[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        """A reply whose body is read as it comes."""
        reply = self.request(method, bucket, key, headers=headers, stream=True)
        try:
            yield reply
        finally:
            reply.close()

    def presign(self, method: str, bucket: str, key: str, expires_in: int) -> str:
        expires = str(int(time.time()) + expires_in)
        resource = self._resource(bucket, key, {})
        signature = auth_v1.sign(self.credentials.access_key_secret, f"{method}\n\n\n{expires}\n{resource}")
        query = urlencode(
            {"OSSAccessKeyId": self.credentials.access_key_id, "Expires": expires, "Signature": signature}
        )
        return f"{self.endpoint}{self._path(bucket, key)}?{query}"

    # Buckets.

    def list_buckets(self) -> list[dict[str, str]]:
        buckets: list[dict[str, str]] = []
        marker = ""
        while True:
            root = _xml(self.request("GET", params={"marker": marker, "max-keys": "1000"}))
            for b in root.iter("Bucket"):
                buckets.append({"name": _text(b, "Name"), "created": _text(b, "CreationDate")})
            if _text(root, "IsTruncated") != "true":
                return buckets
            marker = _text(root, "NextMarker")

    def list_objects(self, bucket: str, prefix: str = "", delimiter: str = "") -> Iterator[Listing]:
        """Pages of a listing (ListObjectsV2)."""
        token = ""
        while True:
            params = {"list-type": "2", "prefix": prefix, "max-keys": "1000"}
            if delimiter:
                params["delimiter"] = delimiter
            if token:
                params["continuation-token"] = token
            root = _xml(self.request("GET", bucket, params=params))
            page = Listing()
            for c in root.iter("Contents"):
                page.objects.append(
                    {
                        "key": _text(c, "Key"),
                        "size": int(_text(c, "Size") or 0),
                        "etag": _text(c, "ETag").strip('"'),
                        "last_modified": _text(c, "LastModified"),
                    }
                )
            page.prefixes = [_text(p, "Prefix") for p in root.iter("CommonPrefixes")]
            yield page
            if _text(root, "IsTruncated") != "true":
                return
            token = _text(root, "NextContinuationToken")

    def delete_objects(self, bucket: str, keys: list[str]) -> None:
        items = "".join(f"<Object><Key>{_escape(k)}</Key></Object>" for k in keys)
        body = f"<Delete><Quiet>true</Quiet>{items}</Delete>".encode()
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        headers = {"Content-MD5": md5, "Content-Type": "application/xml"}
        self.request("POST", bucket, params={"delete": ""}, headers=headers, content=body)

    # Multipart.

    def initiate(self, bucket: str, key: str) -> str:
        return _text(_xml(self.request("POST", bucket, key, {"uploads": ""})), "UploadId")

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
        params = {"partNumber": str(number), "uploadId": upload_id}
        reply = self.request("PUT", bucket, key, params, content=data)
        etag: str = reply.headers.get("etag", "")
        return etag.strip('"')

    def list_parts(self, bucket: str, key: str, upload_id: str) -> dict[int, str]:
        parts: dict[int, str] = {}
        marker = "0"
        while True:
            params = {"uploadId": upload_id, "part-number-marker": marker, "max-parts": "1000"}
            root = _xml(self.request("GET", bucket, key, params))
            for p in root.iter("Part"):
                parts[int(_text(p, "PartNumber"))] = _text(p, "ETag").strip('"')
            if _text(root, "IsTruncated") != "true":
                return parts
            marker = _text(root, "NextPartNumberMarker")

    def complete(self, bucket: str, key: str, upload_id: str, parts: Mapping[int, str]) -> httpx.Response:
        items = "".join(
            f'<Part><PartNumber>{n}</PartNumber><ETag>"{parts[n]}"</ETag></Part>' for n in sorted(parts)
        )
        body = f"<CompleteMultipartUpload>{items}</CompleteMultipartUpload>".encode()
        return self.request("POST", bucket, key, {"uploadId": upload_id}, content=body)

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        self.request("DELETE", bucket, key, {"uploadId": upload_id})

    # Helpers.

    @staticmethod
    def _path(bucket: str, key: str) -> str:
        if not bucket:
            return "/"
        return f"/{bucket}/" + quote(key, safe="/")

    @staticmethod
    def _resource(bucket: str, key: str, params: Mapping[str, str]) -> str:
        resource = f"/{bucket}/{key}" if bucket else "/"
        signed = sorted((k, v) for k, v in params.items() if k in _SIGNED)
        if not signed:
            return resource
        return resource + "?" + "&".join(f"{k}={v}" if v else k for k, v in signed)


def _bare(query: str) -> str:
    """``uploads=`` as ``uploads``: OSS sub-resources without a value are sent bare."""
    return "&".join(part[:-1] if part.endswith("=") else part for part in query.split("&"))


def _xml(reply: httpx.Response) -> Element:
    root: Element = fromstring(reply.content)
    return root


def _text(node: Element, tag: str) -> str:
    found = node.find(tag)
    return "" if found is None or found.text is None else found.text


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


__all__ = ["Client", "Credentials", "Listing", "OSSClientError"]
