"""Per-access-key quotas of document processing: requests and model tokens a minute.

The minute is a fixed window (the clock's minute): a request is counted when it is admitted, and a
generation's tokens (input + output) are charged to its minute when it ends, cancelled or not;
while either count is at its limit, new requests get ``503 SlowDown`` with ``Retry-After`` (the
seconds to the next minute). Tokens are known only at the end, so the minute in which the limit is
crossed may go over it by one request's tokens. A result from the cache runs no model and costs no
tokens.

The counts are shared like the queue: SQLite in the data dir (``backends/state/quotas.py``) for
the workers of a machine, Redis for replicas. Which key a generation is charged to travels with
the request's task (``account``), so the document service charges it wherever it runs, in the
event stream's producer task and in an asynchronous task's runner alike."""

from __future__ import annotations

import contextvars
import logging
import math
import time
from dataclasses import dataclass
from typing import Protocol

from ossdoc import errors

log = logging.getLogger("ossdoc.quotas")
WINDOW = 60
account: contextvars.ContextVar[str | None] = contextvars.ContextVar("ossdoc_quota_account", default=None)


@dataclass(frozen=True)
class Limits:
    rpm: int = 0  # requests a minute; 0: unlimited
    tpm: int = 0  # tokens a minute; 0: unlimited

    @property
    def unlimited(self) -> bool:
        return self.rpm <= 0 and self.tpm <= 0


class Counter(Protocol):
    def take(self, key_id: str, window: int, rpm: int, tpm: int) -> str | None:
        """Count a request of ``key_id`` in ``window`` unless a limit is reached (0: none); the
        quota reached ("requests" or "tokens"), or None when it was counted."""

    def charge(self, key_id: str, window: int, tokens: int) -> None: ...

    def close(self) -> None: ...


class Quotas:
    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    def admit(self, key_id: str, limits: Limits, now: float | None = None) -> None:
        """Count a document request, or refuse it with ``503 SlowDown``."""
        if limits.unlimited:
            return
        now = time.time() if now is None else now
        window = int(now // WINDOW)
        reached = self.counter.take(key_id, window, limits.rpm, limits.tpm)
        if reached is None:
            return
        retry = max(1, math.ceil((window + 1) * WINDOW - now))
        if reached == "requests":
            message = f"The access key {key_id} has made its {limits.rpm} document requests of this minute"
        else:
            message = f"The access key {key_id} has used its {limits.tpm} model tokens of this minute"
        log.info("quota: %s", message)
        err = errors.SlowDown(f"{message} (its quota); retry in {retry} s.")
        err.headers["Retry-After"] = str(retry)
        raise err

    def charge(self, key_id: str, tokens: int, now: float | None = None) -> None:
        """Charge a generation's tokens; never fails the request (it has been answered)."""
        if tokens <= 0:
            return
        window = int((time.time() if now is None else now) // WINDOW)
        try:
            self.counter.charge(key_id, window, tokens)
        except Exception as exc:
            log.warning("quota: %d tokens of %s not charged: %s", tokens, key_id, exc)

    def close(self) -> None:
        self.counter.close()
