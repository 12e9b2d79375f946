"""Tasks in the Redis replicas share: any replica takes a submission, one runs it.

A task is the hash ``<prefix>task:<id>``, each field of ``TaskRecord`` as JSON (written by Python,
so times keep every digit); the sorted sets ``tasks:unfinished`` and ``tasks:bucket:<name>`` (score
0, ordered by id) and ``tasks:finished`` (scored by end time) find them. Every change that depends
on the task's current state is one script: a claim takes the oldest claimable task for one owner,
and renew and settle write only while the task is still Running for that owner.

Redis is not fsynced here unless it is configured to be (``appendfsync always``): ``add`` is as
durable as the Redis it goes to."""

from __future__ import annotations

import json
from dataclasses import astuple, fields
from typing import Any

from ossdoc.backends.state.redis_client import CONNECT_TIMEOUT, SOCKET_TIMEOUT, module, text, unavailable
from ossdoc.backends.tasks.base import TaskRecord

COLUMNS = [f.name for f in fields(TaskRecord)]

# KEYS: task, unfinished, finished, bucket index. ARGV: owner ("" for no condition), id, then
# field/value pairs. Writes the fields and files the task by its new state; 0 when the condition fails.
WRITE = """
if ARGV[1] ~= '' and (redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1]
    or redis.call('HGET', KEYS[1], 'state') ~= '"Running"') then return 0 end
local state, finished
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  if ARGV[i] == 'state' then state = ARGV[i + 1] end
  if ARGV[i] == 'finished' then finished = ARGV[i + 1] end
end
redis.call('ZADD', KEYS[4], 0, ARGV[2])
if state == '"Succeeded"' or state == '"Failed"' or state == '"Cancelled"' then
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('ZADD', KEYS[3], tonumber(finished) or 0, ARGV[2])
elseif state then
  redis.call('ZADD', KEYS[2], 0, ARGV[2])
  redis.call('ZREM', KEYS[3], ARGV[2])
end
return 1
"""
# KEYS: unfinished. ARGV: task key prefix, owner (JSON), now, lease until (JSON numbers).
CLAIM = """
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local task = ARGV[1] .. id
  local state = redis.call('HGET', task, 'state')
  if state == '"Queued"' or (state == '"Running"'
      and tonumber(redis.call('HGET', task, 'lease_until')) < tonumber(ARGV[3])) then
    local attempts = tonumber(redis.call('HGET', task, 'attempts')) + 1
    redis.call('HSET', task, 'state', '"Running"', 'owner', ARGV[2], 'lease_until', ARGV[4],
      'started', ARGV[3], 'attempts', tostring(attempts))
    return id
  end
end
return false
"""
# KEYS: task, finished. ARGV: owner (JSON), lease until and progress (JSON numbers).
RENEW = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'state') ~= '"Running"'
  then return 0 end
redis.call('HSET', KEYS[1], 'lease_until', ARGV[2], 'progress_chars', ARGV[3],
  'progress_input_tokens', ARGV[4], 'progress_output_tokens', ARGV[5])
return 1
"""
# KEYS: task, unfinished, finished. ARGV: id, now (JSON number).
CANCEL = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == '"Queued"' or state == '"Running"' then
  redis.call('HSET', KEYS[1], 'state', '"Cancelled"', 'finished', ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], tonumber(ARGV[2]), ARGV[1])
end
"""
# KEYS: unfinished. ARGV: task key prefix, owner prefix.
EXPIRE = """
local n = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local task = ARGV[1] .. id
  local owner = cjson.decode(redis.call('HGET', task, 'owner') or '""')
  if redis.call('HGET', task, 'state') == '"Running"' and string.sub(owner, 1, #ARGV[2]) == ARGV[2] then
    redis.call('HSET', task, 'lease_until', '0.0')
    n = n + 1
  end
end
return n
"""
# KEYS: finished. ARGV: task key prefix, bucket index prefix, finished before.
PRUNE = """
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
for _, id in ipairs(old) do
  local bucket = cjson.decode(redis.call('HGET', ARGV[1] .. id, 'bucket') or '""')
  redis.call('ZREM', ARGV[2] .. bucket, id)
  redis.call('DEL', ARGV[1] .. id)
  redis.call('ZREM', KEYS[1], id)
end
return #old
"""


def encode(task: TaskRecord) -> list[str]:
    pairs: list[str] = []
    for name, value in zip(COLUMNS, astuple(task), strict=True):
        pairs += [name, json.dumps(value)]
    return pairs


def decode(row: dict[Any, Any]) -> TaskRecord:
    values = {text(k): json.loads(v) for k, v in row.items()}
    return TaskRecord(**{name: values[name] for name in COLUMNS if name in values})


class RedisTaskStore:
    def __init__(self, url: str, prefix: str = "ossdoc:") -> None:
        self._client = module().asyncio.Redis.from_url(
            url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT
        )
        self._prefix = prefix
        self._task = prefix + "task:"
        self._bucket = prefix + "tasks:bucket:"
        self._unfinished = prefix + "tasks:unfinished"
        self._finished = prefix + "tasks:finished"
        register = self._client.register_script
        self._write, self._claim, self._renew = register(WRITE), register(CLAIM), register(RENEW)
        self._cancel, self._expire, self._prune = register(CANCEL), register(EXPIRE), register(PRUNE)

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except module().RedisError as exc:
            raise unavailable(exc) from exc

    async def _records(self, ids: list[Any]) -> list[TaskRecord]:
        try:
            pipe = self._client.pipeline(transaction=False)
            for task_id in ids:
                pipe.hgetall(self._task + text(task_id))
            rows = await pipe.execute()
        except module().RedisError as exc:
            raise unavailable(exc) from exc
        return [decode(row) for row in rows if row]

    async def _ids(self, key: str, start: str, limit: int = -1) -> list[Any]:
        try:
            return list(await self._client.zrange(key, start, "+", bylex=True, offset=0, num=limit))
        except module().RedisError as exc:
            raise unavailable(exc) from exc

    def _keys(self, task: TaskRecord) -> list[str]:
        return [self._task + task.task_id, self._unfinished, self._finished, self._bucket + task.bucket]

    async def add(self, task: TaskRecord) -> None:
        await self._call(self._write, self._keys(task), ["", task.task_id, *encode(task)])

    async def get(self, task_id: str) -> TaskRecord | None:
        found = await self._records([task_id])
        return found[0] if found else None

    async def update(self, task: TaskRecord) -> None:
        await self._call(self._write, self._keys(task), ["", task.task_id, *encode(task)])

    async def unfinished(self) -> list[TaskRecord]:
        return await self._records(await self._ids(self._unfinished, "-"))

    async def list(self, bucket: str, after: str, limit: int) -> list[TaskRecord]:
        start = f"({after}" if after else "-"
        return await self._records(await self._ids(self._bucket + bucket, start, limit))

    async def prune(self, finished_before: float) -> int:
        args = [self._task, self._bucket, json.dumps(finished_before)]
        return int(await self._call(self._prune, [self._finished], args))

    async def claim(self, owner: str, now: float, lease: float) -> TaskRecord | None:
        args = [self._task, json.dumps(owner), json.dumps(now), json.dumps(now + lease)]
        task_id = await self._call(self._claim, [self._unfinished], args)
        return None if task_id is None else await self.get(text(task_id))

    async def renew(self, task: TaskRecord) -> bool:
        progress = (task.progress_chars, task.progress_input_tokens, task.progress_output_tokens)
        args = [json.dumps(value) for value in (task.owner, task.lease_until, *progress)]
        return bool(await self._call(self._renew, [self._task + task.task_id], args))

    async def settle(self, task: TaskRecord) -> bool:
        args = [json.dumps(task.owner), task.task_id, *encode(task)]
        return bool(await self._call(self._write, self._keys(task), args))

    async def cancel(self, task_id: str, now: float) -> TaskRecord | None:
        keys = [self._task + task_id, self._unfinished, self._finished]
        await self._call(self._cancel, keys, [task_id, json.dumps(now)])
        return await self.get(task_id)

    async def expire(self, owner_prefix: str = "") -> int:
        return int(await self._call(self._expire, [self._unfinished], [self._task, owner_prefix]))

    async def close(self) -> None:
        await self._client.aclose()
