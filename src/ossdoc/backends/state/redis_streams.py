"""The journal of document event streams in the Redis replicas share: a stream resumed with
``Last-Event-ID`` on any replica finds its last event and its generation's state there.

One hash a stream (``<prefix>stream:<key>``), with the fields of ``StreamRecord``, expiring
``ttl`` after it began; every change that depends on who runs the stream is one script that checks
the owner, as the SQLite journal's ``WHERE owner = ?`` does."""

from __future__ import annotations

import time

from ossdoc.backends.state.redis_client import RedisState, guard, raw, text
from ossdoc.backends.state.streams import State, StreamRecord

SENT = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'event_id', ARGV[2], 'frame', ARGV[3], 'resume', ARGV[4], 'updated', ARGV[5])
return 1
"""
DROP = """
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then redis.call('DEL', KEYS[1]) end
"""
END = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'updated', ARGV[4])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'resume', ARGV[3]) end
return 1
"""
TAKE = """
if redis.call('HGET', KEYS[1], 'state') ~= 'stopped' then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'state', 'running', 'updated', ARGV[2])
return 1
"""
STOP_OWNER = """
local owner = redis.call('HGET', KEYS[1], 'owner')
local running = redis.call('HGET', KEYS[1], 'state') == 'running'
if running and owner and string.sub(owner, 1, #ARGV[1]) == ARGV[1] then
  redis.call('HSET', KEYS[1], 'state', 'stopped')
  return 1
end
return 0
"""


class RedisJournal:
    def __init__(self, state: RedisState, *, ttl: float = 600.0, max_bytes: int = 1 << 20) -> None:
        self._state = state
        self._client = state.client
        self.ttl = ttl
        self.max_bytes = max_bytes
        register = self._client.register_script
        self._sent, self._drop, self._end = register(SENT), register(DROP), register(END)
        self._take, self._stop = register(TAKE), register(STOP_OWNER)

    def _key(self, key: str) -> str:
        return self._state.key("stream", key)

    @guard
    def get(self, key: str) -> StreamRecord | None:
        row = self._client.hgetall(self._key(key))
        if not row or float(row[b"created"]) <= time.time() - self.ttl:
            return None
        return StreamRecord(
            key,
            text(row[b"owner"]),
            text(row[b"state"]),  # type: ignore[arg-type]
            int(row[b"event_id"]),
            raw(row[b"frame"]),
            text(row[b"resume"]),
            float(row[b"created"]),
            float(row[b"updated"]),
        )

    @guard
    def begin(self, key: str, owner: str) -> None:
        now = time.time()
        fields: dict[str | bytes, str | bytes | int] = {
            "owner": owner,
            "state": "running",
            "event_id": -1,
            "frame": b"",
            "resume": "",
        }
        pipe = self._client.pipeline()  # MULTI: a reader sees the old stream or the new one
        pipe.delete(self._key(key))
        pipe.hset(self._key(key), mapping={**fields, "created": repr(now), "updated": repr(now)})  # type: ignore[dict-item]
        pipe.pexpire(self._key(key), max(1, int(self.ttl * 1000)))
        pipe.execute()

    @guard
    def sent(self, key: str, owner: str, event_id: int, frame: bytes, resume: str) -> bool:
        if len(frame) + len(resume.encode()) > self.max_bytes:
            self._drop(keys=[self._key(key)], args=[owner])
            return False
        args: list[str | bytes | int] = [owner, event_id, frame, resume, repr(time.time())]
        return bool(self._sent(keys=[self._key(key)], args=args))

    @guard
    def end(self, key: str, owner: str, state: State, resume: str = "") -> None:
        self._end(keys=[self._key(key)], args=[owner, state, resume, repr(time.time())])

    @guard
    def take(self, key: str, owner: str) -> StreamRecord | None:
        taken = self._take(keys=[self._key(key)], args=[owner, repr(time.time())])
        return self.get(key) if taken else None

    @guard
    def stop_owner(self, owner_prefix: str) -> int:
        stopped = 0
        for name in self._client.scan_iter(match=self._state.key("stream", "*"), count=500):
            stopped += int(self._stop(keys=[name], args=[owner_prefix]))
        return stopped

    def close(self) -> None:
        pass
