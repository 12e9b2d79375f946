"""A backend on any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, a router):
``POST /chat/completions`` streamed as server-sent events. Closing the stream closes the HTTP
response, which is how the server learns to stop generating.

Every way the server can fail ends in an LLMError that says which: unreachable, a connection cut
in the middle of a reply, an error status or event, a reply that is no event stream, and silence
(see ``openai_stream`` for how a server evaluating a long prompt is told from one that hangs)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx

from ossdoc.backends.llm.base import Chunk, Message, ModelInfo, Sampling
from ossdoc.backends.llm.errors import LLMError
from ossdoc.backends.llm.openai_stream import EventReader, Patience

CONNECT_SECONDS = 10.0
# A live server answers a tokenize or health request at once, even while it generates (llama-cpp-
# python's queues a tokenize request behind the running generation: then the count is estimated).
QUICK_SECONDS = 10.0
EVENT_STREAM = "text/event-stream"


class OpenAICompatible:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str = "",
        model: str = "",
        context_size: int = 8192,
        stall_seconds: float = 60,
        first_token_seconds: float = 600,
        transport: httpx.AsyncBaseTransport | None = None,
        uds: str | None = None,
        info: ModelInfo | None = None,
    ) -> None:
        """``stall_seconds``: the longest pause between tokens, and the silence before the first
        token after which the server's health is checked. ``first_token_seconds``: the longest wait
        for the first token from a healthy server (a long prompt, a queue in the server).
        ``transport`` replaces the network in tests; ``uds`` is a Unix socket to reach the server on
        (ossdoc's own model service); ``info`` what the server is known to serve."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        if uds is not None and transport is None:
            transport = httpx.AsyncHTTPTransport(uds=uds)
        self.base_url = base_url.rstrip("/")
        self._root = self.base_url.removesuffix("/v1")
        self.stall = stall_seconds
        self.first_token = first_token_seconds
        self.quick = min(QUICK_SECONDS, stall_seconds)
        self.client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            # Reads are timed by Patience; the document service bounds the requests in flight.
            timeout=httpx.Timeout(connect=CONNECT_SECONDS, read=None, write=stall_seconds, pool=None),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            transport=transport,
        )
        self.model = model
        self._info = info or ModelInfo(model or "default", context_size, {"base_url": base_url})
        # A server whose model is known (ossdoc's model service): it takes sampling fields beyond
        # OpenAI's (which an OpenAI server would refuse), counts tokens without listing them, and
        # sends usage in every event.
        self._own_service = info is not None
        # Which tokenize endpoint the server has: unknown (None), found (a URL), or none ("").
        self._tokenize: tuple[str, str] | str | None = None
        self._tokenizer_busy_until = 0.0  # it did not answer in time: estimate until then

    @property
    def info(self) -> ModelInfo:
        return self._info

    async def count_tokens(self, text: str) -> int:
        # Servers with a tokenizer endpoint: llama.cpp's (/tokenize, "content"), vLLM's (/tokenize,
        # "prompt"), llama-cpp-python's (/extras/tokenize, "input"); the first that answers is kept.
        # Others have none: then ~3 characters a token, which errs on the side of smaller pieces.
        root = self._root
        candidates = [
            (f"{root}/tokenize", "content"),
            (f"{root}/tokenize", "prompt"),
            (f"{root}/extras/tokenize", "input"),
        ]
        if self._own_service:  # ossdoc's model service counts without sending the token list
            candidates.insert(0, (f"{root}/tokenize/count", "content"))
        if isinstance(self._tokenize, tuple):
            candidates = [self._tokenize]
        elif self._tokenize == "" or time.monotonic() < self._tokenizer_busy_until:
            candidates = []
        for url, field in candidates:
            body = {field: text}
            if self.model:
                body["model"] = self.model
            try:
                response = await self.client.post(url, json=body, timeout=self.quick)
            except httpx.TransportError as exc:
                if isinstance(exc, httpx.ConnectTimeout) or not isinstance(exc, httpx.TimeoutException):
                    raise LLMError(describe(exc, self.base_url)) from exc
                # Busy (or hung: the completion request will tell): estimate for a while.
                self._tokenizer_busy_until = time.monotonic() + self.stall
                return max(1, len(text) // 3)
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
            if sampling.latin_penalty:
                body["latin_penalty"] = sampling.latin_penalty
            if sampling.cjk_penalty:
                body["cjk_penalty"] = sampling.cjk_penalty
            body["stream_options"]["continuous_usage_stats"] = True
        # Counted before the request, not during it: llama-cpp-python's server would answer the
        # count only once the generation is over. ossdoc's model service sends usage in every event.
        prompt = None if self._own_service else await self._prompt_tokens(messages)
        patience = Patience(self.stall, self.first_token, self.alive)
        request = self.client.build_request("POST", "/chat/completions", json=body)
        try:
            response = await patience.wait(self.client.send(request, stream=True))
            try:
                await self._check(response, patience)
                reader = EventReader(prompt)
                data = response.aiter_bytes()
                while not reader.done:
                    received = await patience.wait(anext(data, None))
                    if received is None:
                        break
                    chunks = await self._counted(reader, reader.feed(received), messages)
                    for chunk in chunks:
                        yield chunk
                    if chunks:
                        patience.token()  # from when the consumer has taken them
                if reader.input_tokens is None:
                    reader.input_tokens = await self._prompt_tokens(messages)
                for chunk in reader.finish():
                    yield chunk
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise LLMError(describe(exc, self.base_url)) from exc

    async def _check(self, response: httpx.Response, patience: Patience) -> None:
        """An error status, or a reply that is not an event stream, is an LLMError with its start."""
        kind = response.headers.get("content-type", "")
        if response.status_code == 200 and kind.split(";")[0].strip().lower() == EVENT_STREAM:
            return
        data = response.aiter_bytes()
        start = b""
        while len(start) < 500 and (more := await patience.wait(anext(data, None))) is not None:
            start += more
        detail = start[:500].decode(errors="replace")
        if response.status_code != 200:
            raise LLMError(f"the model server answered {response.status_code}: {detail}")
        raise LLMError(
            f"the model server answered {kind or 'no content type'}, not an event stream: {detail}"
        )

    async def _counted(
        self, reader: EventReader, chunks: list[Chunk], messages: list[Message]
    ) -> list[Chunk]:
        """``chunks`` with the prompt's token count, counted now if the server has sent none."""
        if not chunks or reader.input_tokens is not None:
            return chunks
        reader.input_tokens = await self._prompt_tokens(messages)
        return [replace(chunk, input_tokens=reader.input_tokens) for chunk in chunks]

    async def _prompt_tokens(self, messages: list[Message]) -> int:
        """input_tokens for a server whose chunks carry no usage (llama-cpp-python's sends none until
        the end): the messages counted by the server's tokenizer, without the chat template."""
        return await self.count_tokens("\n".join(m.content for m in messages))

    async def alive(self) -> bool:
        """Whether the server answers an HTTP request in time, whatever its status: the health check.
        ``/health`` is vLLM's and llama.cpp's; other servers answer 404 at once. Not ``/models``:
        llama-cpp-python's server answers it only between generations."""
        try:
            await self.client.get(self._root + "/health", timeout=self.quick)
        except httpx.HTTPError:
            return False
        return True

    async def close(self) -> None:
        await self.client.aclose()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def describe(exc: httpx.HTTPError, base_url: str) -> str:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return f"the model server at {base_url} is unreachable: {exc}"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return f"the model server closed the connection in the middle of a reply: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return f"the model server did not take the request in time: {exc!r}"
    return f"the model server failed: {exc!r}"
