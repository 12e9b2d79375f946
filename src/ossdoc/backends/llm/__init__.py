"""LLM backends: the embedded llama.cpp model, an OpenAI-compatible server, a scripted fake."""

from __future__ import annotations

from pathlib import Path

from ossdoc.backends.llm.base import Chunk, LLMBackend, Message, ModelInfo, Sampling
from ossdoc.backends.llm.errors import LLMError
from ossdoc.backends.llm.fake import ScriptedLLM
from ossdoc.config import Settings

__all__ = [
    "Chunk",
    "LLMBackend",
    "LLMError",
    "Message",
    "ModelInfo",
    "Sampling",
    "ScriptedLLM",
    "create_backend",
]


def create_backend(settings: Settings, data_dir: Path) -> LLMBackend:
    """The backend ``settings.llm`` names: "local" (the preset or GGUF file ``settings.model``, its
    parts assembled into ``data_dir/models``), "openai", or "fake" (a ScriptedLLM that answers the
    last user message upper-cased, word by word). Loading a local model takes seconds: call it off
    the event loop."""
    if settings.llm == "fake":
        return ScriptedLLM(
            token_delay=settings.fake_token_delay_ms / 1000, context_size=settings.context_size
        )
    if settings.llm == "openai":
        from ossdoc.backends.llm.openai import OpenAICompatible
        from ossdoc.backends.llm.pool import ModelPool

        urls = [url.strip() for url in settings.openai_base_url.split(",") if url.strip()]
        servers = [
            OpenAICompatible(
                url,
                api_key=settings.openai_api_key,
                model=settings.openai_model,
                context_size=settings.context_size,
            )
            for url in urls
        ]
        if len(servers) == 1:
            return servers[0]
        return ModelPool(
            [(url, s, s.healthy) for url, s in zip(urls, servers, strict=True)], limit=settings.openai_streams
        )
    if settings.llm == "local":
        from ossdoc.backends.llm.local import LocalLlama
        from ossdoc.models import resolve_model

        path = resolve_model(settings.model, data_dir / "models")
        return LocalLlama(
            path, name=settings.model, context_size=settings.context_size, threads=settings.threads
        )
    raise LLMError(f"unknown LLM backend {settings.llm!r} (local, openai or fake)")
