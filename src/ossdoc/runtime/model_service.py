"""The model service: the embedded model, loaded once per machine in a process of its own, served to
the HTTP workers over the OpenAI-compatible streaming chat protocol on a Unix socket.

The workers reach it with the same client as any OpenAI-compatible server
(``backends/llm/openai.py``), so "the bundled model" and "a server elsewhere" are one code path.
What it adds to the plain protocol, for that client:

- ``usage`` in every chunk (vLLM's ``continuous_usage_stats``), so token counts are exact at every
  step without a tokenize round trip before the first token;
- ``repeat_penalty`` and ``seed`` in the request, as llama.cpp's server takes them, and
  ``latin_penalty`` and ``cjk_penalty`` (see ``Sampling``);
- ``POST /tokenize`` (``{"content"}`` → ``{"tokens"}``, llama.cpp's form) and
  ``POST /tokenize/count`` (→ ``{"count"}``) for the document service's budgets.

A client that disconnects cancels its generation: Starlette's StreamingResponse cancels the body
iterator on ``http.disconnect``, and closing LocalLlama's stream sets the flag its worker thread
checks between tokens and between prompt steps. Requests wait for the model in the order they came
(LocalLlama's lock); admission (the bounded queue, ``SlowDown``) is decided by the workers, on state
they share."""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ossdoc.backends.llm.base import Chunk, LLMBackend, Message, Sampling
from ossdoc.backends.llm.errors import LLMError

log = logging.getLogger("ossdoc.model")


def create_model_app(backend: LLMBackend, api_key: str = "") -> Starlette:
    """``api_key``: the Bearer token clients must send (a service on a network port); none on the
    Unix socket, which only this user reaches."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await backend.close()

    async def models(request: Request) -> Response:
        info = backend.info
        model = {
            "id": info.name,
            "object": "model",
            "owned_by": "ossdoc",
            "meta": {"n_ctx": info.context_size, **info.extra},
        }
        return JSONResponse({"object": "list", "data": [model]})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def tokenize(request: Request) -> Response:
        text = _text(await _body(request), "content")
        return JSONResponse({"tokens": list(range(await backend.count_tokens(text)))})

    async def count(request: Request) -> Response:
        text = _text(await _body(request), "content")
        return JSONResponse({"count": await backend.count_tokens(text)})

    async def chat(request: Request) -> Response:
        body = await _body(request)
        messages, sampling = _chat_request(body)
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        stream = backend.generate(messages, sampling)
        if not body.get("stream"):
            return await _whole(stream, completion_id, created, backend.info.name)
        # The first chunk is awaited before the reply starts: a prompt too long for the context is
        # then a 400, not a broken stream.
        first = await _first(stream)
        frames = _frames(stream, first, completion_id, created, backend.info.name)
        return StreamingResponse(
            frames, media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    routes = [
        Route("/v1/models", models),
        Route("/health", health),
        Route("/tokenize", tokenize, methods=["POST"]),
        Route("/tokenize/count", count, methods=["POST"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
    ]
    middleware = [Middleware(_RequireKey, api_key=api_key)] if api_key else []
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.add_exception_handler(LLMError, _llm_error)
    app.add_exception_handler(ValueError, _bad_request)
    return app


class _RequireKey:
    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app, self.expected = app, f"Bearer {api_key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        given = dict(scope.get("headers", [])).get(b"authorization", b"")
        if scope["type"] == "http" and not hmac.compare_digest(given, self.expected):
            body = {"error": {"message": "a valid API key is required", "type": "invalid_api_key"}}
            await JSONResponse(body, status_code=401)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name!r} must be a string")
    return value


def _chat_request(body: dict[str, Any]) -> tuple[list[Message], Sampling]:
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise ValueError("'messages' must be a non-empty list")
    messages = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("content"), str):
            raise ValueError("each message needs a 'role' and a string 'content'")
        messages.append(Message(str(item.get("role", "user")), item["content"]))
    stop = body.get("stop") or ()
    defaults = Sampling()
    sampling = Sampling(
        max_tokens=int(body.get("max_tokens") or defaults.max_tokens),
        temperature=float(body.get("temperature", defaults.temperature)),
        top_p=float(body.get("top_p", defaults.top_p)),
        repeat_penalty=float(body.get("repeat_penalty", defaults.repeat_penalty)),
        stop=(stop,) if isinstance(stop, str) else tuple(str(s) for s in stop),
        seed=None if body.get("seed") is None else int(body["seed"]),
        latin_penalty=float(body.get("latin_penalty", 0.0)),
        cjk_penalty=float(body.get("cjk_penalty", 0.0)),
    )
    return messages, sampling


async def _first(stream: AsyncIterator[Chunk]) -> Chunk | None:
    try:
        return await anext(stream)
    except StopAsyncIteration:
        return None
    except BaseException:
        await _close(stream)
        raise


def _event(completion_id: str, created: int, model: str, chunk: Chunk) -> bytes:
    delta = {"content": chunk.text} if chunk.text else {}
    event = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": chunk.finish_reason}],
        "usage": _usage(chunk),
    }
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


def _usage(chunk: Chunk) -> dict[str, int]:
    total = chunk.input_tokens + chunk.output_tokens
    return {
        "prompt_tokens": chunk.input_tokens,
        "completion_tokens": chunk.output_tokens,
        "total_tokens": total,
    }


async def _frames(
    stream: AsyncIterator[Chunk], first: Chunk | None, completion_id: str, created: int, model: str
) -> AsyncIterator[bytes]:
    # aclosing: a disconnect cancels this iterator, and the model must stop at once, not whenever
    # the generator is collected.
    async with aclosing(_chain(first, stream)) as chunks:
        try:
            async for chunk in chunks:
                yield _event(completion_id, created, model, chunk)
        except LLMError as exc:
            log.error("generation failed: %s", exc)
            yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'server_error'}})}\n\n".encode()
            return
    yield b"data: [DONE]\n\n"


async def _chain(first: Chunk | None, stream: AsyncIterator[Chunk]) -> AsyncGenerator[Chunk, None]:
    try:
        if first is None:
            return
        yield first
        async for chunk in stream:
            yield chunk
    finally:
        # A disconnect cancels this through Starlette's (anyio) cancel scope, which would cancel
        # every await here again: shielded, the model is stopped and waited for once.
        with anyio.CancelScope(shield=True):
            await _close(stream)


async def _whole(stream: AsyncIterator[Chunk], completion_id: str, created: int, model: str) -> Response:
    text, last = "", None
    try:
        async for chunk in stream:
            text += chunk.text
            last = chunk
    finally:
        await _close(stream)
    assert last is not None
    reply = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": last.finish_reason,
            }
        ],
        "usage": _usage(last),
    }
    return JSONResponse(reply)


async def _close(stream: AsyncIterator[Chunk]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


async def _llm_error(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": {"message": str(exc), "type": "server_error"}}, status_code=500)


async def _bad_request(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": {"message": str(exc), "type": "invalid_request_error"}}, status_code=400)
