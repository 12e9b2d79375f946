"""Logs as plain lines or as one JSON object per line (``OSSDOC_LOG_FORMAT=plain|json``).

Each answered request is one line of the ``ossdoc.request`` logger at INFO; in JSON its fields
(request id, key id, operation, status, bytes, duration) are top-level keys, ready for a log
pipeline. ``OSSDOC_LOG_LEVEL=warning`` turns request lines off."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

FIELDS = "ossdoc_fields"  # the LogRecord attribute that carries a request line's fields
# The process id tells the workers of ``ossdoc serve`` apart.
PLAIN = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
        }
        fields = getattr(record, FIELDS, None)
        if fields is not None:
            line.update(fields)
        else:
            line["message"] = record.getMessage()
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def configure(level: str = "info", fmt: str = "plain") -> None:
    """Root logging on stderr, in the chosen format; replaces earlier handlers."""
    if fmt not in ("plain", "json"):
        raise ValueError(f"OSSDOC_LOG_FORMAT must be plain or json, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else logging.Formatter(PLAIN))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's own loggers go through the same handler and format.
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
