"""The OpenAI-compatible backend against a real server: llama-cpp-python's, on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ossdoc.backends.llm import LLMError, Message, Sampling
from ossdoc.backends.llm.openai import OpenAICompatible
from ossdoc.models import resolve_model
from ossdoc_server import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.model]
MESSAGES = [Message("user", "Say hello.")]


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    model = resolve_model("smollm2-135m", tmp_path_factory.mktemp("models"))
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
                "--n_threads",
                "2",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, Path(log).read_text()[-2000:]
            try:
                if httpx.get(f"{base}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(20)


async def test_streams_text_and_usage(model_server: str) -> None:
    backend = OpenAICompatible(model_server)
    try:
        chunks = [c async for c in backend.generate(MESSAGES, Sampling(max_tokens=12, temperature=0))]
        assert "".join(c.text for c in chunks).strip()
        last = chunks[-1]
        assert last.finish_reason in ("stop", "length")
        assert last.input_tokens > 0
        assert 0 < last.output_tokens <= 12
        assert await backend.count_tokens("hello world, how are you") >= 3
    finally:
        await backend.close()


async def test_closing_early(model_server: str) -> None:
    backend = OpenAICompatible(model_server)
    try:
        stream = backend.generate(MESSAGES, Sampling(max_tokens=200))
        await stream.__anext__()
        await stream.aclose()  # type: ignore[attr-defined]
        # The server is free for the next request.
        chunks = [c async for c in backend.generate(MESSAGES, Sampling(max_tokens=3))]
        assert chunks[-1].finish_reason is not None
    finally:
        await backend.close()


async def test_unreachable_server_is_an_llm_error() -> None:
    backend = OpenAICompatible(f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(LLMError):
        [c async for c in backend.generate(MESSAGES, Sampling(max_tokens=3))]
    await backend.close()
