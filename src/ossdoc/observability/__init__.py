"""Metrics (Prometheus, across worker processes), usage per access key, request logs, and the
``/-/metrics``, ``/-/healthz``, ``/-/readyz`` and ``/-/usage`` endpoints."""

from __future__ import annotations

from ossdoc.observability.metrics import prepare, worker_exited
from ossdoc.observability.usage import totals

__all__ = ["prepare", "totals", "worker_exited"]
