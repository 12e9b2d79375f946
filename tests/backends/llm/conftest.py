from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from ossdoc.backends.llm.local import LocalLlama
from ossdoc.models import resolve_model


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "model: runs a real (small) model")


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLlama]:
    """SmolLM2-135M (98 MB) on the embedded backend, one per test module."""
    path = resolve_model("smollm2-135m", tmp_path_factory.mktemp("models"))
    backend = LocalLlama(path, name="smollm2-135m", context_size=2048, threads=2)
    yield backend
    asyncio.run(backend.close())
