"""A misbehaving OpenAI-compatible server for fault tests, run as its own process on 127.0.0.1 so
that a test can SIGKILL it, or stop it with SIGSTOP and resume it with SIGCONT.

HTTP/1.1 by hand on asyncio streams, to send exactly the bytes a broken server sends. ``POST
/control`` with ``{"mode": M, "delay": seconds}`` sets how the following completions are answered:

    ok           a short streamed reply ("Hello stub world. ..."), usage and [DONE]
    slow         the same reply at one token per ``delay`` seconds
    prompt       ``delay`` seconds of silence first (a long prompt), while /health answers
    pings        headers at once, then ``: ping`` comments for ``delay`` seconds, then the reply
    stuck        nothing at all, ever, while /health answers (a request stuck in the server)
    hang         two tokens, then nothing (the connection stays open)
    die          two tokens, then the process SIGKILLs itself
    truncate     two tokens, then a clean end of the body: no finish reason, no [DONE]
    cut          two tokens, then the connection closed in the middle of the chunked body
    bad-json     a token, then ``data: {"choices": [`` (not JSON)
    non-dict     a token, then ``data: [1, 2, 3]``
    bad-delta    a token, then an event whose content is a number
    error-event  a token, then ``data: {"error": {"message": "CUDA out of memory"}}``
    status-500   500 Internal Server Error with a JSON error body
    garbage      headers, then random bytes (invalid UTF-8, no line structure)
    long-line    headers, then ``data: xxxx...`` for 2 MiB without a line break
    html         200 with text/html: a proxy's error page

``GET /stats`` counts the completions and health checks (``GET /health``) received. There is no
tokenizer endpoint (404)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from typing import Any

import httpx

REPLY = "Hello stub world. " * 3
state: dict[str, Any] = {"mode": "ok", "delay": 0.0, "completions": 0, "health_checks": 0}


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def event(payload: object) -> bytes:
    return chunk(f"data: {json.dumps(payload)}\n\n".encode())


def delta(text: str, finish: str | None = None) -> bytes:
    return event({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]})


def head(status: str, content_type: str, length: int | None = None) -> bytes:
    """Response headers: a chunked body, or one of ``length`` bytes."""
    framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}", "Connection: close", framing]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def whole(status: str, content_type: str, body: bytes) -> bytes:
    return head(status, content_type, len(body)) + body


async def reply(writer: asyncio.StreamWriter, delay: float = 0.0) -> None:
    words = REPLY.split(" ")[:-1]
    for n, word in enumerate(words):
        writer.write(delta(word if n == 0 else " " + word))
        await writer.drain()
        if delay:
            await asyncio.sleep(delay)
    writer.write(delta("", "stop"))
    usage = {"prompt_tokens": 11, "completion_tokens": len(words), "total_tokens": 11 + len(words)}
    writer.write(event({"choices": [], "usage": usage}))
    writer.write(chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    await writer.drain()


async def completion(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    mode, delay = state["mode"], float(state["delay"])
    state["completions"] += 1
    if mode == "stuck":
        await reader.read()  # until the client leaves
    if mode == "prompt":
        await asyncio.sleep(delay)
    if mode == "status-500":
        body = json.dumps({"error": {"message": "the model crashed", "type": "server_error"}}).encode()
        writer.write(whole("500 Internal Server Error", "application/json", body))
        return
    if mode == "html":
        writer.write(whole("200 OK", "text/html", b"<html><body>Bad gateway</body></html>"))
        return
    writer.write(head("200 OK", "text/event-stream"))
    if mode == "pings":
        for _ in range(max(1, int(delay / 0.2))):
            writer.write(chunk(b": ping\n\n"))
            await writer.drain()
            await asyncio.sleep(0.2)
    if mode in ("ok", "prompt", "pings", "slow"):
        await reply(writer, delay if mode == "slow" else 0.0)
        return
    if mode == "garbage":
        writer.write(chunk(random.Random(7).randbytes(4096)))
        await writer.drain()
        await reader.read()  # until the client leaves
    if mode == "long-line":
        writer.write(chunk(b"data: " + b"x" * (2 << 20)))
        await writer.drain()
        await reader.read()  # until the client leaves
    writer.write(delta("Hello") + delta(" stub"))
    await writer.drain()
    if mode == "hang":
        await reader.read()  # until the client leaves
    elif mode == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "truncate":
        writer.write(b"0\r\n\r\n")
        return
    elif mode == "cut":
        writer.write(b'40\r\ndata: {"choi')  # a chunk announced longer than what comes
        return
    elif mode == "bad-json":
        writer.write(chunk(b'data: {"choices": [\n\n'))
    elif mode == "non-dict":
        writer.write(chunk(b"data: [1, 2, 3]\n\n"))
    elif mode == "bad-delta":
        writer.write(event({"choices": [{"delta": {"content": 42}}]}))
    elif mode == "error-event":
        writer.write(event({"error": {"message": "CUDA out of memory"}}))
    await writer.drain()
    await reader.read()  # left open: the client must end it


def answer(writer: asyncio.StreamWriter, payload: object) -> None:
    writer.write(whole("200 OK", "application/json", json.dumps(payload).encode()))


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request = await reader.readuntil(b"\r\n\r\n")
        lines = request.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0"))
        body = await reader.readexactly(length)
        if path == "/control":
            state.update(json.loads(body))
            answer(writer, state)
        elif path == "/stats":
            answer(writer, state)
        elif path == "/health":
            state["health_checks"] += 1
            answer(writer, {"status": "ok"})
        elif path == "/v1/models":
            answer(writer, {"object": "list", "data": [{"id": "stub", "object": "model"}]})
        elif method == "POST" and path == "/v1/chat/completions":
            await completion(reader, writer)
        else:
            writer.write(whole("404 Not Found", "text/plain", b"not found"))
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = await asyncio.start_server(handle, "127.0.0.1", args.port, reuse_address=True)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


class StubProcess:
    """The stub running in a process of its own (tests): start, signal, restart on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, __file__, "--port", str(self.port)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        assert self.process.stdout.readline() == b"listening\n"

    def mode(self, mode: str, delay: float = 0.0) -> None:
        reply = httpx.post(f"http://127.0.0.1:{self.port}/control", json={"mode": mode, "delay": delay})
        assert reply.status_code == 200

    def stats(self) -> dict[str, Any]:
        """``completions`` and ``health_checks`` (GET /health) received so far."""
        stats: dict[str, Any] = httpx.get(f"http://127.0.0.1:{self.port}/stats").json()
        return stats

    def signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def gone(self) -> bool:
        return self.process is None or self.process.poll() is not None

    def ensure_running(self) -> None:
        """Started again if it died (``die``, a test's SIGKILL), resumed if stopped, mode ``ok``."""
        if not self.gone():
            self.signal(signal.SIGCONT)
            try:
                self.mode("ok")
                return
            except httpx.HTTPError:
                pass  # it was dying
        self.stop()
        self.start()
        self.mode("ok")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)
            assert self.process.stdout is not None
            self.process.stdout.close()
            self.process = None


def wait_until(condition: Any, what: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main())
