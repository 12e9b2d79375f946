"""deploy/nginx.conf's choices, each shown through a real nginx in front of a real ossdoc (local
storage, fake model): a request the first replica never answered goes to the other one (a POST too),
and the errors nginx makes itself are OSS XML errors the SDKs read."""

from __future__ import annotations

import base64
import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import oss2
import pytest

import topology
from ossdoc_server import RunningServer, running
from raw_http import parse_reply


class Dead:
    """A replica that accepts connections and closes them without a word, as one that dies does."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running(tmp_path_factory.mktemp("nginx") / "data") as server:
        yield server


def bucket_at(endpoint: str, server: RunningServer, name: str) -> oss2.Bucket:
    auth = oss2.AuthV4(server.access_key_id, server.access_key_secret)
    return oss2.Bucket(auth, endpoint, name, region="cn-hangzhou")


def test_a_request_the_first_replica_never_answered_goes_to_the_other(
    replica: RunningServer, tmp_path: Path
) -> None:
    dead = Dead()
    with topology.nginx(tmp_path, [f"127.0.0.1:{dead.port}", f"127.0.0.1:{replica.port}"]) as proxy:
        bucket = bucket_at(f"http://{proxy.endpoint}", replica, "retried")
        bucket.create_bucket()
        content = base64.urlsafe_b64encode(b"hello there").decode()
        for n in range(4):  # round-robin: the dead one is tried first at least once
            bucket.put_object(f"k{n}", b"x" * 5000)  # a PUT, its body buffered by nginx
            reply = bucket.process_object(f"k{n}", f"doc/polish,content_{content}")  # a POST
            assert reply.status == 200 and reply.request_id
            assert bucket.get_object(f"k{n}").read() == b"x" * 5000
    dead.sock.close()
    assert dead.accepted >= 1


def test_no_replica_answering_is_an_oss_error(replica: RunningServer, tmp_path: Path) -> None:
    dead = Dead()
    with topology.nginx(tmp_path, [f"127.0.0.1:{dead.port}"]) as proxy:
        bucket = bucket_at(f"http://{proxy.endpoint}", replica, "nobody")
        with pytest.raises(oss2.exceptions.ServerError) as info:
            bucket.get_object("k")
    dead.sock.close()
    assert info.value.status == 503
    assert info.value.code == "ServiceUnavailable"
    assert info.value.request_id


def test_a_body_over_5_gib_is_entity_too_large(replica: RunningServer, tmp_path: Path) -> None:
    with topology.nginx(tmp_path, [f"127.0.0.1:{replica.port}"]) as proxy:
        host, port = proxy.endpoint.split(":")
        head = f"PUT /big/k HTTP/1.1\r\nHost: {proxy.endpoint}\r\nContent-Length: {5 * 2**30 + 1}\r\n"
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(head.encode() + b"Connection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    reply = parse_reply(data, "PUT")
    assert reply.status == 413
    assert reply.code == "EntityTooLarge"


def test_a_large_body_streams_through(replica: RunningServer, tmp_path: Path) -> None:
    """8 MB and more go through unbuffered (``@stream``); the bytes and the signature hold."""
    data = random.randbytes(9 * 1024 * 1024)
    with topology.nginx(tmp_path, [f"127.0.0.1:{replica.port}"]) as proxy:
        bucket = bucket_at(f"http://{proxy.endpoint}", replica, "large")
        bucket.create_bucket()
        bucket.put_object("big", data)
        assert bucket.get_object("big").read() == data
