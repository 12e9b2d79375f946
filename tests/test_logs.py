"""The log handler: request lines written in batches, at most FLUSH_SECONDS late; every other line at
once, after the request lines before it; a fork does not write a batch twice; the plain format's
time is logging's own."""

from __future__ import annotations

import io
import logging
import os
import time
from pathlib import Path

from ossdoc.observability import logs


def _handler(stream: io.TextIOBase | io.TextIOWrapper) -> logging.Logger:
    handler = logs.BatchingHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger = logging.getLogger(f"test-logs-{id(stream)}")
    logger.propagate = False
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    return logger


def _emit(logger: logging.Logger, name: str, message: str, level: int = logging.INFO) -> None:
    logger.handle(logging.makeLogRecord({"name": name, "msg": message, "levelno": level}))


def test_request_lines_wait_for_their_batch_other_lines_do_not() -> None:
    stream = io.StringIO()
    logger = _handler(stream)
    _emit(logger, logs.REQUESTS, "GET one")
    _emit(logger, logs.REQUESTS, "GET two")
    assert stream.getvalue() == ""  # batched
    _emit(logger, "ossdoc.docs", "doc/polish done")  # written at once, after the batch
    assert (
        stream.getvalue() == "ossdoc.request GET one\nossdoc.request GET two\nossdoc.docs doc/polish done\n"
    )
    _emit(logger, logs.REQUESTS, "GET three")
    deadline = time.monotonic() + 5
    while "three" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stream.getvalue().endswith("ossdoc.request GET three\n")  # by the flusher thread
    _emit(logger, logs.REQUESTS, "slow", logging.WARNING)  # a request line above INFO: at once
    assert stream.getvalue().endswith("slow\n")


def test_a_full_batch_is_written_whole() -> None:
    stream = io.StringIO()
    logger = _handler(stream)
    count = 0
    while not stream.getvalue():
        _emit(logger, logs.REQUESTS, "x" * 99)
        count += 1
    written = stream.getvalue()
    assert written.count("\n") == count  # the whole batch, once it reached BATCH_BYTES
    assert logs.BATCH_BYTES <= len(written) <= 4096  # one atomic pipe write


def test_a_batch_never_outgrows_one_atomic_pipe_write() -> None:
    stream = io.StringIO()
    logger = _handler(stream)
    _emit(logger, logs.REQUESTS, "x" * 3000)
    assert stream.getvalue() == ""
    _emit(logger, logs.REQUESTS, "é" * 600)  # 1,200 bytes more would make 4,2xx: the first goes alone
    assert stream.getvalue() == "ossdoc.request " + "x" * 3000 + "\n"


def test_a_fork_writes_a_pending_batch_once(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with path.open("w") as stream:
        logger = _handler(stream)
        _emit(logger, logs.REQUESTS, "before the fork")
        pid = os.fork()
        if pid == 0:  # the child logs a line of its own and exits as a worker does
            _emit(logger, "ossdoc.child", "child")
            logging.shutdown()
            os._exit(0)
        assert os.waitpid(pid, 0)[1] == 0
        for handler in logger.handlers:
            handler.close()
    assert path.read_text().count("before the fork") == 1
    assert "child" in path.read_text()


def test_the_plain_time_is_loggings() -> None:
    record = logging.makeLogRecord({"msg": "m", "created": 1_700_000_000.25, "msecs": 250.0})
    assert logs.PlainFormatter().formatTime(record) == logging.Formatter().formatTime(record)


def test_the_plain_line_is_the_plain_format() -> None:
    record = logging.makeLogRecord(
        {"name": "ossdoc.x", "msg": "%s done", "args": ("polish",), "levelname": "INFO", "process": 7}
    )
    assert logs.PlainFormatter().format(record) == logging.Formatter(logs.PLAIN).format(record)


def test_a_request_line_written_without_a_record_is_the_records_line() -> None:
    fields = {"request_id": "ID", "key_id": "K", "operation": "GetObject", "status": 200, "key": "a\u00e9"}
    message = "GET /b/a GetObject 200 in=0 out=5 0.3ms key=K id=ID"
    for created in (1_700_000_000.25, 1_700_000_001.999):
        record = logging.makeLogRecord(
            {"name": logs.REQUESTS, "msg": message, "levelname": "INFO", "process": 7, logs.FIELDS: fields}
        )
        record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
        for formatter in (logs.PlainFormatter(), logs.JSONFormatter()):
            assert formatter.request(created, 7, message, fields) == formatter.format(record)


def test_a_handler_of_the_users_still_gets_request_records() -> None:
    stream = io.StringIO()
    logs.configure("info", "json")
    root = logging.getLogger()
    (configured,) = root.handlers
    configured.stream = stream  # type: ignore[attr-defined]
    log = logging.getLogger(logs.REQUESTS)
    try:
        logs.log_request(log, "the direct way", {"status": 200})
        configured.flush()
        assert '"status":200' in stream.getvalue()

        records: list[logging.LogRecord] = []
        mine = logging.Handler()
        mine.emit = records.append  # type: ignore[method-assign]
        log.addHandler(mine)
        logs.log_request(log, "through logging", {"status": 404})
        configured.flush()
        assert [r.getMessage() for r in records] == ["through logging"]
        assert getattr(records[0], logs.FIELDS) == {"status": 404}
        assert '"status":404' in stream.getvalue()  # and the configured handler still writes it
        log.removeHandler(mine)
    finally:
        root.removeHandler(configured)
