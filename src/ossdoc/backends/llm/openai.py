"""A backend on any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, a router):
``POST /chat/completions`` streamed as server-sent events. Closing the stream closes the HTTP
response, which is how the server learns to stop generating."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import httpx

from ossdoc.backends.llm.base import Chunk, Message, ModelInfo, Sampling
from ossdoc.backends.llm.errors import LLMError


class OpenAICompatible:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str = "",
        model: str = "",
        context_size: int = 8192,
        timeout: float = 600,
        transport: httpx.AsyncBaseTransport | None = None,
        uds: str | None = None,
        info: ModelInfo | None = None,
    ) -> None:
        """``timeout``: the longest wait for a byte of the reply (a long prompt is evaluated before
        the first one). ``transport`` replaces the network in tests; ``uds`` is a Unix socket to
        reach the server on (ossdoc's own model service); ``info`` what the server is known to serve."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        if uds is not None and transport is None:
            transport = httpx.AsyncHTTPTransport(uds=uds)
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10),
            transport=transport,
        )
        self.model = model
        self._info = info or ModelInfo(model or "default", context_size, {"base_url": base_url})
        # A server whose model is known (ossdoc's model service): it takes sampling fields beyond
        # OpenAI's (which an OpenAI server would refuse) and counts tokens without listing them.
        self._own_service = info is not None
        # Which tokenize endpoint the server has: unknown (None), found (a URL), or none ("").
        self._tokenize: tuple[str, str] | str | None = None

    @property
    def info(self) -> ModelInfo:
        return self._info

    async def count_tokens(self, text: str) -> int:
        # Servers with a tokenizer endpoint: llama.cpp's (/tokenize, "content"), vLLM's (/tokenize,
        # "prompt"), llama-cpp-python's (/extras/tokenize, "input"); the first that answers is kept.
        # Others have none: then ~3 characters a token, which errs on the side of smaller pieces.
        root = str(self.client.base_url).rstrip("/").removesuffix("/v1")
        candidates = [
            (f"{root}/tokenize", "content"),
            (f"{root}/tokenize", "prompt"),
            (f"{root}/extras/tokenize", "input"),
        ]
        if self._own_service:  # ossdoc's model service counts without sending the token list
            candidates.insert(0, (f"{root}/tokenize/count", "content"))
        if isinstance(self._tokenize, tuple):
            candidates = [self._tokenize]
        elif self._tokenize == "":
            candidates = []
        for url, field in candidates:
            body = {field: text}
            if self.model:
                body["model"] = self.model
            try:
                response = await self.client.post(url, json=body)
            except httpx.HTTPError:
                break
            reply = _json(response) if response.status_code == 200 else {}
            tokens = reply.get("tokens", reply.get("count"))
            if isinstance(tokens, list | int) and not isinstance(tokens, bool):
                self._tokenize = (url, field)
                return tokens if isinstance(tokens, int) else len(tokens)
        if self._tokenize is None:
            self._tokenize = ""
        return max(1, len(text) // 3)

    async def generate(self, messages: list[Message], sampling: Sampling) -> AsyncIterator[Chunk]:
        body: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
        }
        if self.model:
            body["model"] = self.model
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if messages and messages[-1].role == "assistant":
            # A prefill to continue: vLLM's and ossdoc's names (llama.cpp's server continues a
            # trailing assistant message by itself).
            body["continue_final_message"], body["add_generation_prompt"] = True, False
        if self._own_service:
            body["repeat_penalty"] = sampling.repeat_penalty
            body["stream_options"]["continuous_usage_stats"] = True
        try:
            async with self.client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code != 200:
                    detail = (await response.aread()).decode(errors="replace")[:500]
                    raise LLMError(f"model server answered {response.status_code}: {detail}")
                async for chunk in _chunks(response, partial(self._prompt_tokens, messages)):
                    yield chunk
        except httpx.HTTPError as exc:
            raise LLMError(f"model server unreachable or failed: {exc!r}") from exc

    async def healthy(self) -> bool:
        """Whether the server answers ``GET /models`` (every OpenAI-compatible server has it)."""
        try:
            response = await self.client.get("/models", timeout=5)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def _prompt_tokens(self, messages: list[Message]) -> int:
        """input_tokens for a server whose chunks carry no usage (llama-cpp-python's sends none until
        the end): the messages counted by the server's tokenizer, without the chat template."""
        return await self.count_tokens("\n".join(m.content for m in messages))

    async def close(self) -> None:
        await self.client.aclose()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def _chunks(
    response: httpx.Response, count_prompt: Callable[[], Awaitable[int]]
) -> AsyncIterator[Chunk]:
    """Chunks of an event stream. Without per-chunk usage, each content delta counts as a token and
    the prompt is counted once, at the first delta; the server's usage (in every event with
    continuous_usage_stats, else the last one) replaces the counts when it comes."""
    input_tokens: int | None = None
    output_tokens = 0
    reason: str | None = None
    done = False
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            break
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise LLMError(f"model server sent a bad event: {data[:200]}") from exc
        if not isinstance(event, dict):
            raise LLMError(f"model server sent a bad event: {data[:200]}")
        if event.get("error"):
            raise LLMError(f"model server failed: {str(event['error'])[:500]}")
        usage = event.get("usage")
        if usage:
            if "prompt_tokens" in usage:
                input_tokens = int(usage["prompt_tokens"])
            output_tokens = int(usage.get("completion_tokens", output_tokens))
        for choice in event.get("choices") or []:
            text = (choice.get("delta") or {}).get("content") or ""
            if text:
                if not usage:
                    output_tokens += 1
                if input_tokens is None:
                    input_tokens = await count_prompt()
                yield Chunk(text, input_tokens, output_tokens)
            if choice.get("finish_reason"):
                reason = "length" if choice["finish_reason"] == "length" else "stop"
    if reason is None and not done:
        raise LLMError("model server ended the stream before the end of the reply")
    if input_tokens is None:
        input_tokens = await count_prompt()
    yield Chunk("", input_tokens, output_tokens, reason or "stop")
