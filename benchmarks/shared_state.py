"""What the shared state costs on the event loop: SQLite in the data dir against Redis on loopback
(redis-py's synchronous client, as the workers call it), same run, same operations.

Per operation, median µs of: admission (admit + release), the stream journal's ``sent`` (a 2 KiB
event), a quota ``admit`` + ``charge``. The ratio Redis / SQLite says whether Redis may be called
synchronously where SQLite is (a SQLite transaction is already a blocking call on the loop)."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from ossdoc.backends.state.admission import SQLiteAdmission
from ossdoc.backends.state.quotas import SQLiteCounter
from ossdoc.backends.state.redis_admission import RedisAdmission
from ossdoc.backends.state.redis_client import RedisState
from ossdoc.backends.state.redis_quotas import RedisCounter
from ossdoc.backends.state.redis_streams import RedisJournal
from ossdoc.backends.state.streams import Journal, StreamJournal
from ossdoc.services.docs.admission import Admission
from ossdoc.services.docs.quotas import Counter, Limits, Quotas
from redis_server import running


def median_us(operation: Callable[[], object], count: int) -> float:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        operation()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def measure(admission: Admission, journal: Journal, counter: Counter, count: int) -> dict[str, float]:
    frame = b"x" * 2048
    journal.begin("bench", "me")
    quotas = Quotas(counter)
    limits = Limits(rpm=10**9, tpm=10**12)
    return {
        "admit+release": median_us(lambda: (admission.admit(100), admission.release()), count),
        "journal sent (2 KiB)": median_us(lambda: journal.sent("bench", "me", 1, frame, "{}"), count),
        "quota admit+charge": median_us(lambda: (quotas.admit("k", limits), quotas.charge("k", 10)), count),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running(Path(tmp) / "redis") as redis:
        data = Path(tmp)
        sqlite = measure(
            SQLiteAdmission(data / "a.sqlite3"),
            StreamJournal(data / "s.sqlite3"),
            SQLiteCounter(data / "q.sqlite3"),
            args.count,
        )
        state = RedisState(redis.url, "bench:", beat=False)
        shared = measure(RedisAdmission(state), RedisJournal(state), RedisCounter(state), args.count)
        state.close()
    print(f"load average {os.getloadavg()[0]:.2f}; median µs per operation, {args.count} each")
    print(f"{'operation':<24} {'SQLite':>8} {'Redis':>8} {'Redis/SQLite':>13}")
    for name, base in sqlite.items():
        print(f"{name:<24} {base:8.1f} {shared[name]:8.1f} {shared[name] / base:13.2f}")


if __name__ == "__main__":
    main()
