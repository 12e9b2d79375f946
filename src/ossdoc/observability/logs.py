"""Logs as plain lines or as one JSON object per line (``OSSDOC_LOG_FORMAT=plain|json``).

Each answered request is one line of the ``ossdoc.request`` logger at INFO; in JSON its fields
(request id, key id, operation, status, bytes, duration) are top-level keys, ready for a log
pipeline. ``OSSDOC_LOG_LEVEL=warning`` turns request lines off.

Request lines are written in batches (``BatchingHandler``), at most a quarter of a second late, so
that a busy worker does not pay a write for every request; every other line is written at once,
after the request lines before it."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from typing import Any, TextIO

FIELDS = "ossdoc_fields"  # the LogRecord attribute that carries a request line's fields
REQUESTS = "ossdoc.request"  # the logger of the line per request
# The process id tells the workers of ``ossdoc serve`` apart.
PLAIN = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
FLUSH_SECONDS = 0.25  # the most a line waits in a batch
# A batch is written once it reaches BATCH_BYTES, and never grows past PIPE_BUF: a write of at most
# PIPE_BUF bytes to a pipe is atomic, so the lines of workers sharing one stderr never interleave.
BATCH_BYTES, PIPE_BUF = 3072, 4096


class _Seconds:
    """A time format applied once per second, not once per line."""

    def __init__(self, fmt: str, convert: Any) -> None:
        self.fmt, self.convert = fmt, convert
        self.second, self.text = -1, ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self.second:
            self.second, self.text = second, time.strftime(self.fmt, self.convert(second))
        return self.text


class PlainFormatter(logging.Formatter):
    """logging's default line (``2026-12-03 01:02:03,456``), its date formatted once a second."""

    def __init__(self) -> None:
        super().__init__(PLAIN)
        self._seconds = _Seconds(self.default_time_format, self.converter)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return f"{self._seconds(record.created)},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        # PLAIN, written out: a request line pays for no %-formatting of the record's dict.
        return (
            f"{self._seconds(record.created)},{int(record.msecs):03d} {record.levelname} "
            f"{record.name}[{record.process}]: {record.getMessage()}"
        )

    def request(self, created: float, pid: int, message: str, fields: dict[str, Any]) -> str:
        """``format`` of a request line's record, without the record."""
        return f"{self._seconds(created)},{_msecs(created):03d} INFO {REQUESTS}[{pid}]: {message}"


class JSONFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._seconds = _Seconds("%Y-%m-%dT%H:%M:%S", time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": f"{self._seconds(record.created)}.{int(record.msecs):03d}Z",
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

    def request(self, created: float, pid: int, message: str, fields: dict[str, Any]) -> str:
        """``format`` of a request line's record, without the record."""
        time_ = f"{self._seconds(created)}.{_msecs(created):03d}Z"
        line: dict[str, Any] = {"time": time_, "level": "info", "logger": REQUESTS, "pid": pid, **fields}
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def _msecs(created: float) -> int:
    return int((created - int(created)) * 1000)  # as LogRecord.msecs


def log_request(log: logging.Logger, message: str, fields: dict[str, Any]) -> None:
    """Log a request line (``log`` is REQUESTS's logger, enabled for INFO). When what handles it is
    this module's configuration alone, the line goes straight into the batch: a LogRecord and
    logging's walk through loggers, filters and handlers cost a seventh of a small GET."""
    handler = _only_handler(log)
    if handler is None:
        record = log.makeRecord(
            log.name, logging.INFO, __file__, 0, "%s", (message,), None, "", {FIELDS: fields}
        )
        log.handle(record)
        return
    formatter = handler.formatter
    assert isinstance(formatter, PlainFormatter | JSONFormatter)
    handler.add(formatter.request(time.time(), handler.pid, message, fields), batched=True)


def _only_handler(log: logging.Logger) -> BatchingHandler | None:
    """The handler of ``configure`` if it is the only one a line of ``log`` reaches, with no filter on
    the way; else None."""
    found: BatchingHandler | None = None
    logger: logging.Logger | None = log
    while logger is not None:
        if logger.filters:
            return None
        for handler in logger.handlers:
            if (
                found is not None
                or type(handler) is not BatchingHandler
                or handler.filters
                or handler.level > logging.INFO
                or type(handler.formatter) not in (PlainFormatter, JSONFormatter)
            ):
                return None
            found = handler
        logger = logger.parent if logger.propagate else None
    return found


class BatchingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes request lines (``REQUESTS``, INFO) in batches: when a batch
    reaches BATCH_BYTES, when any other line comes (written with the batch before it), and otherwise
    within FLUSH_SECONDS, from a thread of each process that logs (started at its first batched
    line: threads do not survive a fork). ``logging.shutdown``, at exit, writes what is left; a fork
    writes it first, so that the child does not write it again."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._lines: list[str] = []
        self._size = 0
        self._flusher_pid = 0
        self.pid = os.getpid()  # the process's, for the lines (LogRecord asks the kernel every time)
        os.register_at_fork(before=self.flush, after_in_child=self._forget)

    def _forget(self) -> None:
        self._lines, self._size = [], 0
        self.pid = os.getpid()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.add(line, batched=record.name == REQUESTS and record.levelno <= logging.INFO)

    def add(self, line: str, batched: bool) -> None:
        """Write ``line`` (formatted) now, or with its batch if ``batched``."""
        line += self.terminator
        size = len(line.encode())
        with self.lock:  # type: ignore[union-attr]
            if self._size + size > PIPE_BUF and self._lines:
                self._write()  # a batch never outgrows one atomic write (but for a longer line)
            self._lines.append(line)
            self._size += size
            if not batched or self._size >= BATCH_BYTES:
                self._write()
            elif self._flusher_pid != self.pid:
                self._flusher_pid = self.pid
                threading.Thread(target=self._flush_often, name="ossdoc-log", daemon=True).start()

    def _write(self) -> None:
        lines, self._lines, self._size = self._lines, [], 0
        try:
            self.stream.write("".join(lines))
            self.stream.flush()
        except Exception:  # as StreamHandler: a broken stderr must not break the request
            self.handleError(logging.makeLogRecord({"msg": "log lines lost", "levelno": logging.ERROR}))

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._lines:
                self._write()
        super().flush()

    def close(self) -> None:
        self._flusher_pid = 0  # the flusher stops
        self.flush()
        super().close()

    def _flush_often(self) -> None:
        pid = os.getpid()
        while True:
            time.sleep(FLUSH_SECONDS)
            if self._flusher_pid != pid:
                return
            self.flush()


def configure(level: str = "info", fmt: str = "plain") -> None:
    """Root logging on stderr, in the chosen format; replaces earlier handlers."""
    if fmt not in ("plain", "json"):
        raise ValueError(f"OSSDOC_LOG_FORMAT must be plain or json, not {fmt!r}")
    # Neither format shows a thread's or a process's name: logging need not look them up per line.
    logging.logThreads = False
    logging.logMultiprocessing = False
    handler = BatchingHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else PlainFormatter())
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
