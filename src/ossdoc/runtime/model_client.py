"""How a worker reaches the machine's model service: the OpenAI-compatible backend on its Unix
socket, waiting out a (re)start of the service instead of failing at once."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import httpx

from ossdoc.backends.llm.openai import OpenAICompatible

if TYPE_CHECKING:
    from ossdoc.runtime.serve import ModelEndpoint

log = logging.getLogger("ossdoc.llm")
# Loading the model takes a few seconds (the 1.5B preset on 2 cores: ~5 s); a request that comes
# meanwhile waits this long for the socket, then fails with ServiceUnavailable.
START_WAIT_SECONDS = 60.0


class _WaitForService(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + START_WAIT_SECONDS
        delay = 0.05
        while True:
            try:
                return await super().handle_async_request(request)
            except httpx.ConnectError:
                if time.monotonic() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(2 * delay, 1.0)


def model_client(endpoint: ModelEndpoint) -> OpenAICompatible:
    return OpenAICompatible(
        "http://ossdoc-model/v1",
        context_size=endpoint.info.context_size,
        transport=_WaitForService(uds=str(endpoint.socket)),
        info=endpoint.info,
    )
