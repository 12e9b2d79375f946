"""Stopping work whose client has gone away.

A JSON document reply is computed before anything is sent, for seconds or minutes; if the client
disconnects meanwhile nothing would notice, and the model would keep its only slot busy for a
reply nobody reads. ``with_cancellation`` runs the work while watching the ASGI receive channel
(the request body has been read, so the next message there is ``http.disconnect``) and cancels the
work when the client leaves. Streaming replies need none of this: Starlette's StreamingResponse
does the same for its body iterator."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.types import Receive

from ossdoc import errors

T = TypeVar("T")

# nginx's code for "client closed request": logged, never received by anyone.
ClientClosedRequest = errors.define("ClientClosedRequest", 499, "The client closed the connection.")


async def with_cancellation(receive: Receive, work: Coroutine[Any, Any, T]) -> T:
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        raise ClientClosedRequest()
    finally:
        for pending in (task, watcher):
            pending.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
