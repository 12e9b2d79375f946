"""Raw HTTP/1.1 over a socket, V1-signed the way the server canonicalizes what it receives, so tests
can send bytes no HTTP library would (control characters, invalid UTF-8, huge request lines) and
still get past authentication."""

from __future__ import annotations

import contextlib
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import parse_qsl

from ossdoc import errors
from ossdoc.wire import addressing, auth_v1
from ossdoc.wire.auth import SignedRequest
from ossdoc_server import RunningServer


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    raw_head: bytes = field(repr=False, default=b"")

    def error(self) -> ET.Element:
        """The OSS XML error document; fails unless the body is one."""
        assert self.headers.get("content-type", "").startswith("application/xml"), self
        root = ET.fromstring(self.body)
        assert root.tag == "Error" and root.findtext("Code"), self.body
        assert root.findtext("RequestId") == self.headers.get("x-oss-request-id"), self.body
        return root

    @property
    def code(self) -> str:
        return self.error().findtext("Code") or ""


def sign(server: RunningServer, method: str, target: bytes, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` plus Date and a V1 Authorization for ``target`` (raw path and query) as the
    server will read it; a target the server cannot even address is left unsigned."""
    signed = {"Date": formatdate(usegmt=True), **headers}
    path, _, query = target.partition(b"?")
    try:
        bucket, key = addressing.resolve(f"127.0.0.1:{server.port}", path, "localhost")
    except errors.OSSError:
        return signed
    raw_query = query.decode("latin-1")
    request = SignedRequest(
        method=method,
        raw_path=path.decode("latin-1"),
        query=parse_qsl(raw_query, keep_blank_values=True),
        headers={k.lower(): v for k, v in signed.items()},
        bucket=bucket,
        key=key,
        raw_query=raw_query,
    )
    string_to_sign = auth_v1.strings_to_sign(request, signed["Date"])[0]
    signature = auth_v1.sign(server.access_key_secret, string_to_sign)
    signed["Authorization"] = f"OSS {server.access_key_id}:{signature}"
    return signed


def send(
    server: RunningServer,
    method: str,
    target: bytes,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    signed: bool = True,
    raw_headers: bytes = b"",
    timeout: float = 30.0,
) -> Reply:
    """One request on a fresh connection; the whole reply, or an AssertionError if the server
    closes or resets the connection without one."""
    all_headers = {"Host": f"127.0.0.1:{server.port}", **(headers or {})}
    if signed:
        all_headers = sign(server, method, target, all_headers)
    all_headers["Content-Length"] = str(len(body))
    head = method.encode() + b" " + target + b" HTTP/1.1\r\n"
    head += b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in all_headers.items())
    head += raw_headers + b"Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        # The server may answer and stop reading before the body is sent: read its answer anyway.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head + body)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError as exc:
            raise AssertionError(f"connection reset after {len(data)} bytes: {data[:300]!r}") from exc
    return parse_reply(data, method)


def parse_reply(data: bytes, method: str = "GET") -> Reply:
    assert b"\r\n\r\n" in data, f"no complete HTTP reply: {data[:300]!r}"
    raw_head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = raw_head.decode("latin-1").split("\r\n")
    version, status, *_ = status_line.split(" ")
    assert version == "HTTP/1.1", status_line
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        assert sep, f"malformed header line {line!r}"
        headers[name.strip().lower()] = value.strip()
    if method == "HEAD" or status in ("204", "304"):
        body = b""
    elif "content-length" in headers:
        length = int(headers["content-length"])
        assert len(rest) >= length, f"reply cut short: {len(rest)} of {length} bytes"
        body = rest[:length]
    else:
        assert headers.get("transfer-encoding") == "chunked", headers
        body = _dechunk(rest)
    return Reply(int(status), headers, body, raw_head)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while True:
        size_line, sep, data = data.partition(b"\r\n")
        assert sep, "chunked reply cut short"
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return out
        assert len(data) >= size + 2, "chunked reply cut short"
        out += data[:size]
        data = data[size + 2 :]
