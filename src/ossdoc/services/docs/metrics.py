"""Counters of the document service, for a metrics endpoint to read (per process, since start)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class DocCounters:
    language_restarts: int = 0  # generations restarted in the wrong language (a start, a JSON reply)
    truncated: int = 0  # results cut at the output limit (FinishReason "length" inside)

    def snapshot(self) -> dict[str, int]:
        return asdict(self)


COUNTERS = DocCounters()
