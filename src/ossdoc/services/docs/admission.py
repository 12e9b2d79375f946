"""Admission to the model's queue: how many document requests hold a place, machine-wide.

A place is taken before a reply starts (a full queue is an ordinary ``503 SlowDown``) and given
back when the generation is closed. With several worker processes the count must be one for the
machine, whichever worker a request reached: ``backends/state/admission.py`` keeps it in the data
dir; ``LocalAdmission`` is the count of one process (tests, a single in-process app)."""

from __future__ import annotations

from typing import Protocol


class Admission(Protocol):
    def admit(self, limit: int) -> int | None:
        """Take a place if fewer than ``limit`` are taken; the places taken now (this one counted),
        or None when the queue is full."""

    def release(self) -> None:
        """Give back one place this process took."""

    def taken(self) -> int:
        """Places taken now, by every process."""


class LocalAdmission:
    def __init__(self) -> None:
        self._taken = 0

    def admit(self, limit: int) -> int | None:
        if self._taken >= limit:
            return None
        self._taken += 1
        return self._taken

    def release(self) -> None:
        self._taken = max(0, self._taken - 1)

    def taken(self) -> int:
        return self._taken
