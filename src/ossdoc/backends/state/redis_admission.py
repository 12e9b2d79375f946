"""The admission count of every replica sharing a Redis: the hash ``<prefix>places`` holds the places
each owner (process) holds, and a place is taken by one script that sums them, so two replicas
never both take the last place. The places of an owner that died are reaped with it
(``redis_client``); each heartbeat also writes this process's own count again, so a release lost
while Redis was away is not lost for good."""

from __future__ import annotations

import logging

from ossdoc.backends.state.redis_client import RedisState, guard, module

log = logging.getLogger("ossdoc.redis")

# KEYS[1] places; ARGV: limit, owner. Returns the places taken now, or -1 when full.
ADMIT = """
local total = 0
for _, n in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(n) end
if total >= tonumber(ARGV[1]) then return -1 end
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
return total + 1
"""
RELEASE = """
if tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
end
"""


class RedisAdmission:
    def __init__(self, state: RedisState) -> None:
        self._state = state
        self._places = state.key("places")
        self._admit = state.client.register_script(ADMIT)
        self._release = state.client.register_script(RELEASE)
        self._held = 0  # the places this process holds, whatever Redis says
        state.on_beat(self._write_held)
        try:
            state.beat()  # registered and alive before the first place is taken
        except module().RedisError as exc:  # its heartbeat thread tries again
            log.warning("redis: %s", exc)

    @guard
    def admit(self, limit: int) -> int | None:
        with self._state.lock:
            taken = int(self._admit(keys=[self._places], args=[limit, self._state.owner]))
            if taken < 0:
                return None
            self._held += 1
            return taken

    def release(self) -> None:
        with self._state.lock:
            self._held = max(0, self._held - 1)
        try:
            self._release(keys=[self._places], args=[self._state.owner])
        except module().RedisError as exc:  # never an error for the request: the next beat repairs it
            log.warning("redis: a place could not be given back yet: %s", exc)

    @guard
    def taken(self) -> int:
        return sum(int(n) for n in self._state.client.hvals(self._places))

    def close(self) -> None:
        pass

    def _write_held(self) -> None:
        # Under the state's lock (RedisState.beat): no admission is half done.
        if self._held:
            self._state.client.hset(self._places, self._state.owner, self._held)
        else:
            self._state.client.hdel(self._places, self._state.owner)
