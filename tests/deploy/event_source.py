"""A document event stream read the way a browser's EventSource reads one: a connection cut before
the end is opened again, with ``Last-Event-ID`` once an event has come. Everything that arrives is
kept in order, with the moment (``Clock`` ticks) it arrived, for the test to judge afterwards."""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import httpx

from ossdoc import client

FINAL = ("Result", "error")


class Clock:
    """Ordered ticks shared by the streams and the test: "before" and "after" without wall time."""

    def __init__(self) -> None:
        self._ticks = itertools.count()
        self._lock = threading.Lock()

    def tick(self) -> int:
        with self._lock:
            return next(self._ticks)


@dataclass
class Event:
    tick: int
    name: str  # message | Result | error | cut (the connection ended before a final event) | status
    data: dict[str, Any]

    @property
    def tokens(self) -> int:
        return int(self.data.get("Usage", {}).get("OutputTokens", 0))


@dataclass
class Stream:
    """One document operation, from the first request to its final event, across reconnections."""

    endpoint: str
    credentials: client.Credentials
    bucket: str
    body: str
    clock: Clock
    reconnects: int = 3
    events: list[Event] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> Stream:
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    @property
    def final(self) -> Event | None:
        last = self.events[-1] if self.events else None
        return last if last is not None and last.name in (*FINAL, "status") else None

    def messages(self, before: int | None = None) -> list[Event]:
        return [e for e in self.events if e.name == "message" and (before is None or e.tick < before)]

    def run(self) -> None:
        last_id: str | None = None
        for _ in range(1 + self.reconnects):
            last_id, done = self._connect(last_id)
            if done:
                return

    def _connect(self, last_id: str | None) -> tuple[str | None, bool]:
        resource = f"/{self.bucket}/doc.txt?x-oss-process"
        headers = {"Date": formatdate(usegmt=True), "Content-Type": client.FORM_TYPE}
        headers["Authorization"] = client.sign_v1(self.credentials, "POST", resource, headers)
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        fields: dict[str, str] = {}
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10, read=120)) as http,
                http.stream("POST", self.endpoint + resource, content=self.body, headers=headers) as reply,
            ):
                if reply.status_code != 200:
                    body = reply.read().decode(errors="replace")
                    self._add("status", {"Status": reply.status_code, "Body": body})
                    return last_id, True
                for line in reply.iter_lines():
                    if line:
                        name, _, value = line.partition(":")
                        fields[name] = value.strip()
                        continue
                    if "data" not in fields:
                        fields = {}  # a ": ping" comment
                        continue
                    last_id = fields.get("id", last_id)
                    name = fields.get("event", "message")
                    self._add(name, json.loads(fields["data"]))
                    fields = {}
                    if name in FINAL:
                        return last_id, True
        except httpx.TransportError as exc:
            self._add("cut", {"Error": repr(exc)})
            return last_id, False
        self._add("cut", {"Error": "the stream ended without a final event"})
        return last_id, False

    def _add(self, name: str, data: dict[str, Any]) -> None:
        self.events.append(Event(self.clock.tick(), name, data))
