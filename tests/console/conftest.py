"""The console through the whole ASGI app, in process: ``create_app`` on a temporary data dir with
the fake model, and an HTTP client that keeps cookies as a browser does."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docx
import httpx
import pytest

from ossdoc.config import Settings
from ossdoc.keys import AccessKey, KeyRing
from ossdoc.server import create_app
from ossdoc.wire.app import OSSApp

KEY = AccessKey("LTAIconsoletest000000000", "consolesecret00000000000000000")
OTHER = AccessKey("LTAIconsoleother00000000", "othersecret0000000000000000000")
BASE = "http://testserver"


@dataclass
class Console:
    app: OSSApp
    client: httpx.AsyncClient
    csrf: str = ""

    async def sign_in(self, key: AccessKey = KEY) -> httpx.Response:
        token = (await self.client.get("/-/api/session")).json()["csrf"]
        reply = await self.client.post(
            "/-/api/session",
            json={"accessKeyId": key.id, "accessKeySecret": key.secret},
            headers={"X-CSRF-Token": token},
        )
        if reply.status_code == 200:
            self.csrf = reply.json()["csrf"]
        return reply

    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}

    async def call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A console API request, with the session's CSRF token."""
        sent = {**self.headers(), **(headers or {})}
        return await self.client.request(method, f"/-/api/{path}", headers=sent, **kwargs)


@asynccontextmanager
async def running(data: Path, **settings: Any) -> AsyncIterator[Console]:
    app = create_app(Settings(data=data, llm="fake", **settings), KeyRing.fixed([KEY, OTHER]))
    async with app.lifespan() as state:
        app.state = state
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield Console(app, client)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async with running(tmp_path / "data") as found:
        yield found


@pytest.fixture
async def signed_in(console: Console) -> Console:
    assert (await console.sign_in()).status_code == 200
    return console


def make_docx(*paragraphs: str) -> bytes:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
