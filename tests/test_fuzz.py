"""A bounded, seeded fuzz of a real ``ossdoc serve`` on loopback (fake model backend).

Requests are built from valid ones and mutated: keys (control characters, invalid UTF-8, too long,
deep), query strings (sub-resources, junk values, ``response-*`` with CR/LF, ``x-oss-process``
chains), headers (ranges, digests, copy sources, metadata, conditions) and XML bodies
(CompleteMultipartUpload, Delete, Tagging, bucket configuration: truncated, other encodings,
entities, deep nesting). Most are correctly V1-signed so they reach past authentication.

Every answer must be a complete HTTP reply: a success, or an OSS XML error that parses, never a
500, a reset or a hang; the server must stay up and log no internal error."""

from __future__ import annotations

import base64
import random
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import oss2
import pytest

from ossdoc_server import RunningServer, running
from raw_http import Reply, send

T = TypeVar("T")
SEED = 20261202
CODES: dict[str, int] = {}
REQUESTS = 1500
Case = tuple[str, bytes, dict[str, str], bytes, str]  # method, target, headers, body, signing


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running(tmp_path_factory.mktemp("fuzz") / "data") as server:
        yield server


class Fuzzer:
    def __init__(self, rng: random.Random, bucket: str, upload_id: str) -> None:
        self.rng = rng
        self.bucket = bucket
        self.upload_id = upload_id

    def pick(self, items: list[T]) -> T:
        return self.rng.choice(items)

    def junk(self, size: int = 12) -> bytes:
        alphabet = [
            b"%00",
            b"%0d%0a",
            b"%ff",
            b"%",
            b"%zz",
            b"%e4%b8%ad",
            b"&",
            b"=",
            b"a",
            b"/",
            b"%2F",
            b"+",
            b"~",
        ]
        return b"".join(self.pick(alphabet) for _ in range(self.rng.randint(0, size)))

    def key(self) -> bytes:
        return self.pick(
            [
                lambda: b"obj",
                lambda: b"missing-" + str(self.rng.randint(0, 9)).encode(),
                lambda: b"mp",
                lambda: quote("中文/文件 名.txt").encode(),
                lambda: b"a%01b%1f%7f",
                lambda: b"a%00b",
                lambda: b"%ff%fe%fd",
                lambda: b"\xff\xferaw",  # not HTTP (raw bytes in the target): the parser's 400
                lambda: b"k" * self.rng.choice([1023, 1024, 1500, 5000]),
                lambda: b"d/" * self.rng.randint(1, 600),
                lambda: b"..%2F..%2Fetc%2Fpasswd",
                lambda: self.junk(30),
                lambda: b"",
            ]
        )()

    def query(self) -> bytes:
        uid = self.upload_id.encode()
        options = [
            b"",
            b"acl",
            b"tagging",
            b"uploads",
            b"uploadId=" + self.pick([uid, b"nope", self.junk()]),
            b"partNumber="
            + self.pick([b"1", b"0", b"10001", b"-1", b"x", self.junk()])
            + b"&uploadId="
            + uid,
            b"versions",
            b"versionId=" + self.pick([b"null", b"abc", self.junk()]),
            b"max-keys=" + self.pick([b"5", b"-1", b"1001", b"9" * 30, self.junk()]),
            b"list-type=2&continuation-token=" + self.junk(),
            b"prefix=" + self.junk() + b"&delimiter=" + self.pick([b"/", b"", self.junk(3)]),
            b"encoding-type=" + self.pick([b"url", b"xml", self.junk()]),
            b"marker=" + self.junk() + b"&key-marker=" + self.junk() + b"&upload-id-marker=" + self.junk(),
            b"response-content-disposition=" + self.pick([b"attachment", b"a%0d%0aX:%20y", self.junk()]),
            b"response-content-type=" + self.junk(),
            b"response-expires=%0a",
            b"x-oss-process=" + self.process(),
            b"x-oss-async-task=" + self.junk(),
            b"position=" + self.pick([b"0", b"5", b"-3", self.junk()]),
            b"append&position=0",
            b"objectMeta",
            b"symlink",
            b"live",
            b"lifecycle",
            b"cors",
            b"versioning",
            b"referer",
            b"delete",
            b"stat",
            b"bucketInfo",
            b"location",
            self.junk(20),
        ]
        parts = [self.pick(options) for _ in range(self.rng.randint(0, 2))]
        return b"&".join(p for p in parts if p)

    def process(self) -> bytes:
        content = base64.urlsafe_b64encode(self.pick([b"hello", b"", "中文".encode(), b"\x00\xff"])).rstrip(
            b"="
        )
        action = self.pick(
            [b"doc/polish", b"doc/translate,language_en_US", b"doc/nope", b"image/resize,w_1", b""]
        )
        tail = self.pick(
            [b"", b",format_event-stream", b"|sys/saveas,o_b3V0", b"|image/resize,w_1", b"|x/y|z", b","]
        )
        return action + b",content_" + content + tail + self.pick([b"", self.junk(5)])

    def headers(self) -> dict[str, str]:
        options: list[Callable[[], tuple[str, str]]] = [
            lambda: (
                "Range",
                self.pick(["bytes=0-1", "bytes=5-2", "bytes=-0", "bytes=a-b", "chars=0-1", "bytes=0-1,3-4"]),
            ),
            lambda: ("Content-MD5", self.pick(["1B2M2Y8AsgTpgAmY7PhCfg==", "!!", "AAAA", ""])),
            lambda: (
                "x-oss-copy-source",
                self.pick([f"/{self.bucket}/obj", "/nobucket/x", "nokey", "/%ff", ""]),
            ),
            lambda: ("x-oss-copy-source-range", self.pick(["bytes=0-1", "bytes=9-1", "junk"])),
            lambda: ("x-oss-meta-" + self.pick(["a", "b" * 200]), self.pick(["v", "\xe9\xff", "x" * 9000])),
            lambda: ("If-Match", self.pick(['"nope"', "*", ""])),
            lambda: ("If-Modified-Since", self.pick(["yesterday", "Mon, 01 Jan 2024 00:00:00 GMT"])),
            lambda: ("x-oss-object-acl", self.pick(["private", "public-read", "bogus"])),
            lambda: ("x-oss-acl", self.pick(["private", "bogus"])),
            lambda: ("x-oss-storage-class", self.pick(["Standard", "Bogus"])),
            lambda: ("x-oss-tagging", self.pick(["a=b", "=", "a=" + "v" * 300, "%zz"])),
            lambda: ("x-oss-forbid-overwrite", "true"),
            lambda: ("x-oss-complete-all", self.pick(["yes", "no"])),
            lambda: ("x-oss-metadata-directive", self.pick(["COPY", "REPLACE", "BOGUS"])),
            lambda: ("Content-Type", self.pick(["application/xml", "text/plain", "\xff"])),
            lambda: ("x-oss-range-behavior", "standard"),
        ]
        return dict(self.pick(options)() for _ in range(self.rng.randint(0, 3)))

    def xml_body(self) -> bytes:
        documents = [
            b'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>',
            b"<Delete><Quiet>false</Quiet><Object><Key>obj</Key><VersionId>null</VersionId></Object></Delete>",
            b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>",
            b"<CreateBucketConfiguration><StorageClass>Standard</StorageClass></CreateBucketConfiguration>",
            b"<AccessControlPolicy><AccessControlList><Grant>private</Grant></AccessControlList></AccessControlPolicy>",
        ]
        document = self.pick(documents)
        mutations: list[Callable[[bytes], bytes]] = [
            lambda d: d,
            lambda d: d[: self.rng.randint(0, len(d))],
            lambda d: b'<?xml version="1.0" encoding="GBK"?>' + d,
            lambda d: b'<?xml version="1.0" encoding="UTF-16"?>' + d,
            lambda d: d.replace(b"obj", b"\xff\xfe").replace(b"<Key>a", b"<Key>\x01"),
            lambda d: b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>' + d.replace(b"obj", b"&b;"),
            lambda d: b"<a>" * 3000 + b"</a>" * 3000,
            lambda d: d.replace(b"1</PartNumber>", b"99999999999999999999</PartNumber>"),
            lambda d: d.replace(b"<Key>obj</Key>", b"<Key></Key>" * 1001),
            lambda d: bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, 200))),
        ]
        return self.pick(mutations)(document)

    def body(self, query: bytes) -> bytes:
        if b"x-oss-process" in query and self.rng.random() < 0.5:
            return b"x-oss-process=" + self.process()
        return self.pick([b"", b"data", self.xml_body(), self.xml_body(), b"x" * self.rng.randint(0, 4096)])

    def case(self) -> Case:
        bucket = self.pick([self.bucket.encode()] * 12 + [b"no-such-bucket", b"Bad_Name", b"", self.junk(5)])
        method = self.pick(["GET", "GET", "GET", "PUT", "PUT", "POST", "POST", "DELETE", "HEAD", "PATCH"])
        key = self.key() if self.rng.random() < 0.8 else b""
        path = b"/" + bucket + (b"/" + key if key else b"/")
        query = self.query()
        target = path + (b"?" + query if query else b"")
        signing = self.pick(["v1"] * 17 + ["none", "none", "bad"])
        return method, target, self.headers(), self.body(query), signing


def check(reply: Reply, case: Case) -> None:
    method = case[0]
    assert reply.status != 500, (case, reply.body[:500])
    assert 200 <= reply.status < 600, case
    if reply.status >= 400 and reply.status != 304 and method != "HEAD":
        reply.error()
    elif "x-oss-object-type" in reply.headers:
        pass  # an object's own bytes may be anything
    elif reply.headers.get("content-type", "").startswith("application/xml") and reply.body:
        ET.fromstring(reply.body)


def test_fuzz(fuzz_server: RunningServer) -> None:
    auth = oss2.Auth(fuzz_server.access_key_id, fuzz_server.access_key_secret)
    name = f"fuzz-{uuid.uuid4().hex[:8]}"
    bucket = oss2.Bucket(auth, fuzz_server.endpoint, name)
    bucket.create_bucket()
    bucket.put_object("obj", b"hello world")
    upload_id = bucket.init_multipart_upload("mp").upload_id
    rng = random.Random(SEED)
    fuzzer = Fuzzer(rng, name, upload_id)
    statuses: dict[int, int] = {}
    for _ in range(REQUESTS):
        case = fuzzer.case()
        method, target, headers, body, signing = case
        if signing == "bad":
            headers = {**headers, "Date": "Mon, 01 Jan 2024 00:00:00 GMT", "Authorization": "OSS LTAI:bad"}
        try:
            reply = send(fuzz_server, method, target, headers=headers, body=body, signed=signing == "v1")
        except AssertionError as exc:
            raise AssertionError(f"{case!r:.2000}: {exc}") from exc
        check(reply, case)
        statuses[reply.status] = statuses.get(reply.status, 0) + 1
        if reply.status >= 400 and method != "HEAD":
            CODES[reply.code] = CODES.get(reply.code, 0) + 1
    print(sorted(statuses.items()), sorted(CODES.items(), key=lambda x: -x[1]))
    # Enough cases got past authentication and routing to exercise the handlers.
    assert sum(n for s, n in statuses.items() if s < 300) > REQUESTS // 20, statuses
    assert sum(n for s, n in statuses.items() if s not in (403, 405)) > REQUESTS // 2, statuses
    assert fuzz_server.process.poll() is None
    assert bucket.get_bucket_info().name == name  # still serving
    log = Path(fuzz_server.log).read_text()
    assert "internal error" not in log and "Traceback" not in log, log[-3000:]
