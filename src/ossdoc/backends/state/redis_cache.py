"""The result cache in the Redis replicas share: a repeat answered at once whichever replica ran
the first request. Bounded as the SQLite cache is, by the bytes of text held, least recently used
out first: entries are hashes (``<prefix>cache:entry:<key>``), recency a sorted set scored by a
shared clock, the total a counter, all changed by scripts. A cache only forgets: when Redis fails,
a lookup is a miss and a result is not kept (the request itself fails at admission if Redis is gone)."""

from __future__ import annotations

import logging

from ossdoc.backends.state.redis_client import RedisState, module, text
from ossdoc.services.docs.generation import Progress

log = logging.getLogger("ossdoc.docs")

# KEYS: entry, used, clock. ARGV: key.
GET = """
local row = redis.call('HMGET', KEYS[1], 'text', 'finish_reason', 'input_tokens', 'output_tokens', 'chunks')
if not row[1] then return false end
redis.call('ZADD', KEYS[2], 'XX', redis.call('INCR', KEYS[3]), ARGV[1])
return row
"""
# KEYS: entry, used, clock, bytes. ARGV: key, text, finish reason, input, output, chunks, cost, limit,
# entry key prefix.
PUT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'text', ARGV[2], 'finish_reason', ARGV[3], 'input_tokens', ARGV[4],
  'output_tokens', ARGV[5], 'chunks', ARGV[6], 'bytes', ARGV[7])
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
local size = redis.call('INCRBY', KEYS[4], ARGV[7])
while size > tonumber(ARGV[8]) do
  local old = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #old == 0 then redis.call('SET', KEYS[4], 0) return 1 end
  local entry = ARGV[9] .. old[1]
  local cost = tonumber(redis.call('HGET', entry, 'bytes') or '0')
  redis.call('DEL', entry)
  redis.call('ZREM', KEYS[2], old[1])
  size = redis.call('DECRBY', KEYS[4], cost)
end
return 1
"""


class RedisCache:
    def __init__(self, state: RedisState, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._client = state.client
        self._entry = state.key("cache", "entry", "")
        self._used, self._clock, self._bytes = (
            state.key("cache", name) for name in ("used", "clock", "bytes")
        )
        self._get = self._client.register_script(GET)
        self._put = self._client.register_script(PUT)

    @property
    def size(self) -> int:
        """Bytes of text held, by every replica."""
        return int(self._client.get(self._bytes) or 0)

    def get(self, key: str) -> Progress | None:
        try:
            row = self._get(keys=[self._entry + key, self._used, self._clock], args=[key])
        except module().RedisError as exc:
            log.warning("result cache: %s", exc)
            return None
        if not row:
            return None
        return Progress(text(row[0]), text(row[1]), int(row[2]), int(row[3]), int(row[4]))

    def put(self, key: str, result: Progress) -> None:
        cost = len(result.text.encode())
        if cost > self.max_bytes:
            return
        args: list[str | int] = [key, result.text, result.finish_reason or "", result.input_tokens]
        args += [result.output_tokens, result.chunks, cost, self.max_bytes, self._entry]
        try:
            self._put(keys=[self._entry + key, self._used, self._clock, self._bytes], args=args)
        except module().RedisError as exc:
            log.warning("result cache: %s", exc)

    def close(self) -> None:
        pass
