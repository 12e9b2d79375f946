"""The documented topology end to end (nginx, two replicas on SeaweedFS and Redis, two model servers
with the small real model), killed in the middle: one model server and one whole replica."""

from __future__ import annotations

import base64
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import alibabacloud_oss_v2 as oss
import oss2
import pytest

import topology
from event_source import Clock, Stream
from ossdoc import client
from ossdoc.crc64 import crc64

pytestmark = pytest.mark.model
TEXT = "Our town has a river, a market and an old mill by the bridge. "


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[topology.Topology]:
    settings = {"cache_bytes": "0", "max_output_tokens": "160", "context_size": "2048"}
    run: Path = tmp_path_factory.mktemp("topology")
    with topology.running(run, model="smollm2-135m", **settings) as deployed:
        yield deployed


@dataclass
class Traffic:
    """Objects written and read back in a loop through one SDK until told to stop."""

    name: str
    put: Callable[[str, bytes], object]
    get: Callable[[str], Callable[[], bytes]]  # the reply's head; then its body
    stop: threading.Event
    committed: dict[str, int] = field(default_factory=dict)  # key: CRC-64 of what was acknowledged
    failures: list[tuple[str, str]] = field(default_factory=list)  # (operation, what the SDK raised)

    def run(self) -> None:
        for index in range(10_000):
            if self.stop.is_set():
                return
            key = f"{self.name}/{index}"
            data = random.randbytes(random.choice((100, 4096, 70_000)))
            try:
                self.put(key, data)
                self.committed[key] = crc64(data)
            except Exception as exc:
                self.failures.append(("put", _described(exc)))
            if not self.committed:
                continue
            previous = random.choice(list(self.committed))
            try:
                read = self.get(previous)
            except Exception as exc:
                self.failures.append(("get", _described(exc)))
                continue
            try:
                data = read()
            except Exception as exc:  # the reply had begun: its replica died while sending the body
                self.failures.append(("get", f"cut {exc!r}"))
                continue
            if crc64(data) != self.committed[previous]:
                self.failures.append(("get", f"{previous}: other bytes than were written"))


def _described(exc: Exception) -> str:
    """An OSS error (status and code from the XML body) or anything else (a cut connection)."""
    if isinstance(exc, oss2.exceptions.OssError) and exc.status > 0 and exc.code:
        return f"oss {exc.status} {exc.code}"
    if isinstance(exc, oss.exceptions.OperationError):
        cause = exc.unwrap()
        if isinstance(cause, oss.exceptions.ServiceError) and cause.code:
            return f"oss {cause.status_code} {cause.code}"
    return f"other {exc!r}"


def oss2_traffic(deployed: topology.Topology, bucket: str, stop: threading.Event) -> Traffic:
    auth = oss2.AuthV4(deployed.access_key_id, deployed.access_key_secret)
    sdk = oss2.Bucket(auth, deployed.endpoint, bucket, region="cn-hangzhou")
    return Traffic("oss2", sdk.put_object, lambda key: sdk.get_object(key).read, stop)


def v2_traffic(deployed: topology.Topology, bucket: str, stop: threading.Event) -> Traffic:
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        deployed.access_key_id, deployed.access_key_secret
    )
    cfg.region, cfg.endpoint = "cn-hangzhou", deployed.endpoint
    sdk = oss.Client(cfg)

    def put(key: str, data: bytes) -> None:
        sdk.put_object(oss.PutObjectRequest(bucket=bucket, key=key, body=data))

    def get(key: str) -> Callable[[], bytes]:
        reply = sdk.get_object(oss.GetObjectRequest(bucket=bucket, key=key))
        return reply.body.read  # type: ignore[no-any-return]

    return Traffic("v2", put, get, stop)


def streams(deployed: topology.Topology, bucket: str, clock: Clock, count: int) -> list[Stream]:
    credentials = client.Credentials(deployed.access_key_id, deployed.access_key_secret)
    started = []
    for _ in range(count):
        text = f"{TEXT * 4}(Note {uuid.uuid4().hex[:8]}.)"  # each its own: no result is shared
        body = f"x-oss-process=doc/continue,content_{_b64(text)},format_event-stream"
        started.append(Stream(deployed.endpoint, credentials, bucket, body, clock).start())
    return started


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _signal(process: topology.Process, signum: int) -> None:
    os.killpg(process.process.pid, signum)


def _settled(all_streams: list[Stream]) -> None:
    """Until no stream gets anything for half a second: what was on its way has arrived."""
    seen = -1
    while seen != (seen := sum(len(s.events) for s in all_streams)):
        time.sleep(0.5)


def _under_way(all_streams: list[Stream], count: int = 2, limit: float = 120) -> None:
    """Until ``count`` streams are mid-reply (2: both model servers, each writes one reply at a
    time), all streams have ended, or ``limit`` seconds have passed."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if len(_midway(all_streams)) >= count or all(s.final for s in all_streams):
            return
        time.sleep(0.02)


def _midway(all_streams: list[Stream]) -> list[Stream]:
    return [s for s in all_streams if s.messages() and s.final is None]


def test_killing_a_model_server_and_a_replica(deployed: topology.Topology) -> None:
    bucket = f"e2e-{uuid.uuid4().hex[:8]}"
    oss2.Bucket(
        oss2.Auth(deployed.access_key_id, deployed.access_key_secret), deployed.endpoint, bucket
    ).create_bucket()
    stop, clock = threading.Event(), Clock()
    traffic = [oss2_traffic(deployed, bucket, stop), v2_traffic(deployed, bucket, stop)]
    threads = [threading.Thread(target=t.run, daemon=True) for t in traffic]
    for thread in threads:
        thread.start()
    m1, m2 = deployed.model_servers
    before: list[Stream] = []

    # Freeze both model servers while streams are under way: a stream that has events but no end
    # then is one whose events came while its generation was unfinished (not buffered to the end).
    for _ in range(3):
        before += streams(deployed, bucket, clock, 4)
        _under_way(before)
        for server in (m1, m2):
            _signal(server, signal.SIGSTOP)
        _settled(before)
        frozen = clock.tick()
        midway = _midway(before)
        if midway:
            break
        for server in (m1, m2):
            _signal(server, signal.SIGCONT)
    assert midway, "no stream had its first events before its end"

    # Kill one model server (stopped, it dies as well): the reply it was writing ends with an error,
    # the requests waiting for it go to the other. Then, with new streams under way, a whole replica.
    m1.kill()
    _signal(m2, signal.SIGCONT)
    during = streams(deployed, bucket, clock, 3)
    _under_way(during, count=1)
    deployed.replicas[0].kill()
    killed = clock.tick()
    after = streams(deployed, bucket, clock, 3)
    everything = before + during + after
    for stream in everything:
        assert stream.thread is not None
        stream.thread.join(240)
    stop.set()
    for thread in threads:
        thread.join(60)

    outcomes = [
        (s.final.name if s.final else "none", len(s.messages()), sum(e.name == "cut" for e in s.events))
        for s in everything
    ]
    print(f"midway {len(midway)}; streams (final, messages, cuts): {outcomes}")
    print({t.name: (len(t.committed), t.failures) for t in traffic})

    # Streams: every one ended with a final event or an OSS error, and the only failures are of
    # streams that had streamed text before (a model server that dies mid-reply cannot be replaced).
    for stream in everything:
        final = stream.final
        assert final is not None, stream.events
        if final.name != "Result":
            assert final.name == "error" or (final.name == "status" and "<Code>" in final.data["Body"]), final
            assert stream.messages(), f"failed before its first token: {stream.events}"
    for stream in midway:
        final = stream.final
        assert final is not None and final.tick > frozen
        # After the thaw the generation went on (more tokens) or ended with an error: unfinished then.
        assert final.name != "Result" or final.tokens > stream.messages(frozen)[-1].tokens
    if len(midway) >= 2:  # a model server writes one reply at a time: one of them was on m1's
        assert any(s.final is not None and s.final.name == "error" for s in midway), outcomes
    assert all(s.final is not None and s.final.name == "Result" for s in after), [s.events for s in after]

    # Objects: every acknowledged one is there with its bytes; every failure an OSS error, or a
    # read whose reply had begun when its replica died (the SDK raises: the body is short).
    reader = oss2.Bucket(
        oss2.Auth(deployed.access_key_id, deployed.access_key_secret), deployed.endpoint, bucket
    )
    for sdk in traffic:
        assert sdk.committed, sdk.name
        with ThreadPoolExecutor(4) as pool:
            read = pool.map(lambda key: crc64(reader.get_object(key).read()), sdk.committed)
            assert dict(zip(sdk.committed, read, strict=True)) == sdk.committed
        assert all(what.startswith(("oss ", "cut ")) for _, what in sdk.failures), sdk.failures
    assert killed > frozen
