"""The quota counts of every replica sharing a Redis: a hash per access key and minute
(``<prefix>quota:<key id>:<minute>``, fields ``requests`` and ``tokens``) that expires after the
next minute; a request is counted by one script that checks both limits first."""

from __future__ import annotations

from ossdoc.backends.state.redis_client import RedisState, guard, text

# KEYS[1]: the minute's hash. ARGV: rpm, tpm (0: none), expiry in seconds.
TAKE = """
local counts = redis.call('HMGET', KEYS[1], 'requests', 'tokens')
local requests, tokens = tonumber(counts[1] or '0'), tonumber(counts[2] or '0')
if tonumber(ARGV[1]) > 0 and requests >= tonumber(ARGV[1]) then return 'requests' end
if tonumber(ARGV[2]) > 0 and tokens >= tonumber(ARGV[2]) then return 'tokens' end
redis.call('HINCRBY', KEYS[1], 'requests', 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return false
"""
EXPIRY_SECONDS = 180  # the minute, the next one (charges of generations that ended late), margin


class RedisCounter:
    def __init__(self, state: RedisState) -> None:
        self._state = state
        self._take = state.client.register_script(TAKE)

    def _key(self, key_id: str, window: int) -> str:
        return self._state.key("quota", key_id, str(window))

    @guard
    def take(self, key_id: str, window: int, rpm: int, tpm: int) -> str | None:
        reached = self._take(keys=[self._key(key_id, window)], args=[rpm, tpm, EXPIRY_SECONDS])
        return None if reached is None else text(reached)

    @guard
    def charge(self, key_id: str, window: int, tokens: int) -> None:
        pipe = self._state.client.pipeline()
        pipe.hincrby(self._key(key_id, window), "tokens", tokens)
        pipe.expire(self._key(key_id, window), EXPIRY_SECONDS)
        pipe.execute()

    def close(self) -> None:
        pass
