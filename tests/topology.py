"""The documented topology on 127.0.0.1: SeaweedFS, Redis, model servers, ossdoc replicas, nginx.

One module for ``scripts/topology`` (a try-out), the end-to-end test and ``benchmarks/scale.py``.
Every process binds to loopback on a free port, lives in its own process group (so one can be killed
whole, as a machine dies) and writes under one run directory; leaving ``running`` stops them all."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import string
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx

import ossdoc_server
import redis_server
import seaweedfs
from ossdoc_server import RunningServer, free_port, free_ports

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


@dataclass
class Process:
    """A server in its own process group: ``kill`` takes it with every child, at once."""

    name: str
    endpoint: str  # host:port
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, grace: float = 10.0) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Topology:
    endpoint: str  # http://127.0.0.1:PORT, nginx: what clients use
    access_key_id: str
    access_key_secret: str
    replicas: list[RunningServer]
    model_servers: list[Process]
    nginx: Process | None
    redis_url: str


def _spawn(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _wait(
    name: str, process: subprocess.Popen[bytes], log: Path, ready: Callable[[], bool], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{_tail(log)}")
        if ready():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} not ready within {timeout}s:\n{_tail(log)}")
        time.sleep(0.1)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def _answers(url: str, below: int = 500) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < below
    except httpx.HTTPError:
        return False


def model_server(
    run: Path, model: Path, api_key: str, threads: int = 1, port: int = 0, **settings: str
) -> Process:
    """``ossdoc model-service``: the embedded model alone, OpenAI-compatible, on a TCP port."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSSDOC_")}
    env.update(OSSDOC_OPENAI_API_KEY=api_key, OSSDOC_THREADS=str(threads), OSSDOC_LOG_LEVEL="warning")
    env.update({f"OSSDOC_{k.upper()}": v for k, v in settings.items()})
    command = [sys.executable, "-m", "ossdoc", "model-service", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--data", str(run), "--model", str(model)]
    log = run / "model-service.log"
    return Process("model server", f"127.0.0.1:{port}", _spawn(command, log, env), log)


@contextmanager
def nginx(run: Path, upstreams: list[str], port: int = 0) -> Iterator[Process]:
    """nginx with ``deploy/nginx.conf`` filled in; pid, logs and temp files in ``run``."""
    run.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    values = {"NGINX_LISTEN": f"127.0.0.1:{port}"}
    values.update({f"OSSDOC_REPLICA_{i}": upstream for i, upstream in enumerate(upstreams, 1)})
    config = run / "nginx.conf"
    config.write_text(string.Template(_upstream_lines(len(upstreams))).safe_substitute(values))
    with _nginx(run, config, values["NGINX_LISTEN"]) as process:
        yield process


@contextmanager
def static_nginx(run: Path, root: Path) -> Iterator[Process]:
    """nginx serving the files under ``root`` with sendfile, as a native reference server for
    benchmarks; pid, logs and temp files in ``run``."""
    run.mkdir(parents=True, exist_ok=True)
    listen = f"127.0.0.1:{free_port()}"
    config = run / "static.conf"
    config.write_text(
        f"pid {run}/nginx.pid;\nworker_processes 1;\nevents {{ worker_connections 256; }}\n"
        f"http {{ access_log off; sendfile on; tcp_nopush on; client_body_temp_path {run}/body;\n"
        f"  proxy_temp_path {run}/proxy; fastcgi_temp_path {run}/fastcgi; uwsgi_temp_path {run}/uwsgi;\n"
        f"  scgi_temp_path {run}/scgi;\n  server {{ listen {listen}; root {root}; }}\n}}\n"
    )
    with _nginx(run, config, listen) as process:
        yield process


@contextmanager
def _nginx(run: Path, config: Path, listen: str) -> Iterator[Process]:
    directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    command = [binary, "-p", f"{run}/", "-c", str(config), "-e", "stderr", "-g", directives]
    log = run / "nginx.out"
    process = Process("nginx", listen, _spawn(command, log), log)
    try:
        # Any HTTP answer means nginx listens.
        _wait("nginx", process.process, log, partial(_answers, f"http://{process.endpoint}/", 600), 30)
        yield process
    finally:
        process.stop()


def _upstream_lines(count: int) -> str:
    """deploy/nginx.conf with one ``server ${OSSDOC_REPLICA_<n>}`` line per replica (it shows two)."""
    lines = (DEPLOY / "nginx.conf").read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if "${OSSDOC_REPLICA_1}" in line)
    kept = [line for line in lines if "${OSSDOC_REPLICA_" not in line]
    servers = [lines[first].replace("_1}", f"_{n}}}") for n in range(1, count + 1)]
    return "\n".join(kept[:first] + servers + kept[first:]) + "\n"


@contextmanager
def running(
    run: Path,
    *,
    replicas: int = 2,
    model_servers: int = 2,
    model: str = "smollm2-135m",
    llm: str = "openai",
    workers: int = 1,
    access_key_id: str = "",
    access_key_secret: str = "",
    **replica_settings: str,
) -> Iterator[Topology]:
    """The whole topology, stopped on exit. ``llm="fake"`` needs no model servers (benchmarks);
    ``replica_settings`` are more OSSDOC_* settings (lower case) of the replicas."""
    key_id = access_key_id or "LTAI" + secrets.token_hex(10)
    secret = access_key_secret or secrets.token_urlsafe(24)
    model_key = secrets.token_urlsafe(16)
    model_servers = model_servers if llm == "openai" else 0
    with ExitStack() as stack:
        store = stack.enter_context(seaweedfs.running(run / "seaweedfs"))
        redis_url = stack.enter_context(redis_server.running(run / "redis")).url
        # Every port that is chosen before its process binds it, chosen at once: nginx's is bound
        # last, and a model server binds its port only once it has loaded (separate picks could
        # hand one port out twice).
        port, *ports = free_ports(1 + model_servers + replicas)
        models = _model_servers(stack, run, model, model_key, ports[:model_servers])
        settings = {
            **store.settings("s3://ossdoc"),
            "llm": llm,
            "redis_url": redis_url,
            "workers": str(workers),
            "access_key_id": key_id,
            "access_key_secret": secret,
        }
        if models:
            settings["openai_base_url"] = ",".join(f"http://{m.endpoint}/v1" for m in models)
            settings["openai_api_key"] = model_key
        settings["public_endpoint"] = f"127.0.0.1:{port}"
        settings.update(replica_settings)
        servers: list[RunningServer] = []
        for index in range(1, replicas + 1):
            data = run / f"replica{index}" / "data"
            server = ossdoc_server.start(data, ports[model_servers + index - 1], **settings)
            stack.callback(server.stop)
            servers.append(server)
        upstreams = [f"127.0.0.1:{server.port}" for server in servers]
        proxy = stack.enter_context(nginx(run / "nginx", upstreams, port))
        yield Topology(f"http://{proxy.endpoint}", key_id, secret, servers, models, proxy, redis_url)


def _model_servers(stack: ExitStack, run: Path, model: str, api_key: str, ports: list[int]) -> list[Process]:
    if not ports:
        return []
    from ossdoc.models import resolve_model

    # Assembled and verified once, here: the servers then load the one file, side by side.
    path = resolve_model(model, run / "models")
    servers = [model_server(run / f"model{i}", path, api_key, port=port) for i, port in enumerate(ports, 1)]
    for server in servers:
        stack.callback(server.stop)
    for server in servers:
        url = f"http://{server.endpoint}/health"
        _wait(server.name, server.process, server.log, partial(_answers, url), 300)
    return servers


def main() -> int:
    """``scripts/topology``: start it all, print how to reach it, stop it all on Ctrl-C or SIGTERM."""
    import argparse

    parser = argparse.ArgumentParser(description="ossdoc's documented topology, on 127.0.0.1")
    parser.add_argument("--run", type=Path, default=Path("topology-run"), help="run directory (logs, data)")
    parser.add_argument(
        "--model", default="qwen2.5-coder-0.5b", help="the model servers' preset or GGUF file"
    )
    parser.add_argument("--llm", default="openai", choices=["openai", "fake"], help="fake: no model servers")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--model-servers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="HTTP workers of each replica")
    args = parser.parse_args()

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    # SIGINT too, explicitly: a launcher started in the background inherits it ignored.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    key_id = os.environ.get("OSSDOC_ACCESS_KEY_ID", "")
    secret = os.environ.get("OSSDOC_ACCESS_KEY_SECRET", "")
    print(f"starting in {args.run.resolve()} (logs there) ...", flush=True)
    with running(
        args.run.resolve(),
        replicas=args.replicas,
        model_servers=args.model_servers,
        model=args.model,
        llm=args.llm,
        workers=args.workers,
        access_key_id=key_id,
        access_key_secret=secret,
        log_level="info",
    ) as topology:
        print(f"endpoint  {topology.endpoint}   (nginx)")
        print(f"key       OSSDOC_ACCESS_KEY_ID={topology.access_key_id}")
        print(f"          OSSDOC_ACCESS_KEY_SECRET={topology.access_key_secret}")
        for replica in topology.replicas:
            print(f"replica   http://127.0.0.1:{replica.port}  data {replica.data}")
        for server in topology.model_servers:
            print(f"model     http://{server.endpoint}/v1")
        print(f"redis     {topology.redis_url}")
        print("Ctrl-C stops everything.", flush=True)
        signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
