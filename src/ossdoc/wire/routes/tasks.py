"""Asynchronous document processing.

``POST /<key>?x-oss-async-process`` takes the body ``x-oss-async-process=<doc/...>|sys/saveas,...``
as OSS does (``oss2``'s and ``alibabacloud-oss-v2``'s ``async_process_object``) and answers at once
with ``{"EventId", "RequestId", "TaskId"}``; the result lands where saveas says. OSS reports the end
of a task by message notification; ossdoc, which has none, lets the bucket's owner poll:
``GET /?x-oss-async-task=<TaskId>`` (one task), ``GET /?x-oss-async-task`` (the bucket's tasks,
paged with ``marker`` and ``max-keys``) and ``DELETE /?x-oss-async-task=<TaskId>`` (cancel)."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.responses import Response

from ossdoc import errors
from ossdoc.backends.tasks import TaskRecord
from ossdoc.services.docs import Progress, pipeline
from ossdoc.services.docs.params import form_value
from ossdoc.services.docs.tasks import TaskRunner
from ossdoc.wire import sse
from ossdoc.wire.context import Context
from ossdoc.wire.routes.common import check_md5, content_md5, int_param, iso8601
from ossdoc.wire.routes.process import JSON_TYPE, check_save_as, count_request, service
from ossdoc.wire.routing import Router

router = Router()
FIELD = "x-oss-async-process"
TASKS = "x-oss-async-task"


@router.route("POST", "object", FIELD)
async def async_process_object(ctx: Context) -> Response:
    docs, runner = service(ctx), _runner(ctx)
    bucket, key = ctx.require_bucket(), ctx.require_key()
    store = ctx.state.store
    await store.bucket(bucket)
    expected_md5 = content_md5(ctx)
    body = await ctx.body(docs.body_limit)
    check_md5(expected_md5, body)
    process = form_value(body, FIELD)
    request = docs.parse_process(process)
    if request.stream:
        raise errors.InvalidArgument(
            f"{FIELD} replies with a task id, not a stream: leave out format_event-stream.",
            ArgumentName="format",
        )
    if request.save_as is None:
        raise errors.InvalidArgument(
            f"{FIELD} stores its result as an object: end the process with "
            "|sys/saveas,o_<URL-safe Base64 key>[,b_<URL-safe Base64 bucket>].",
            ArgumentName=FIELD,
        )
    # What can be checked now is, so that a task fails later only for what only running it shows.
    check_save_as(request.save_as)
    await store.bucket(request.save_as.bucket or bucket)
    if pipeline.docx_output(request.save_as):
        pipeline.check_docx_output(request)
    if request.content is None:
        await store.head(bucket, key)
    key_id = count_request(ctx)
    task = await runner.submit(bucket, key, process, ctx.request_id, key_id)
    # EventId names OSS's notification event; ossdoc sends none, but the SDKs read the field.
    event_id = f"{secrets.randbelow(1000)}-{secrets.token_urlsafe(18)}"
    reply = {"EventId": event_id, "RequestId": ctx.request_id, "TaskId": task.task_id}
    return _json(ctx, reply)


@router.route("GET", "bucket", TASKS)
async def get_tasks(ctx: Context) -> Response:
    runner, bucket, task_id = await _addressed(ctx)
    if task_id:
        return _json(ctx, task_json(await runner.get(bucket, task_id), runner.progress(task_id)))
    marker = ctx.query.get("marker", "")
    max_keys = int_param(ctx, "max-keys", 100, 1, 1000)
    tasks = await runner.list(bucket, marker, max_keys + 1)
    reply: dict[str, Any] = {"Tasks": [task_json(t, runner.progress(t.task_id)) for t in tasks[:max_keys]]}
    reply["IsTruncated"] = len(tasks) > max_keys
    if len(tasks) > max_keys:
        reply["NextMarker"] = tasks[max_keys - 1].task_id
    return _json(ctx, reply)


@router.route("DELETE", "bucket", TASKS)
async def cancel_task(ctx: Context) -> Response:
    runner, bucket, task_id = await _addressed(ctx)
    if not task_id:
        raise errors.InvalidArgument(f"Name the task to cancel: {TASKS}=<TaskId>.", ArgumentName=TASKS)
    return _json(ctx, task_json(await runner.cancel(bucket, task_id)))


def task_json(task: TaskRecord, progress: Progress | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "TaskId": task.task_id,
        "State": task.state,
        "Bucket": task.bucket,
        "Object": task.key,
        "Process": task.process,
        "RequestId": task.request_id,
        "CreationTime": iso8601(task.created),
        "Attempts": task.attempts,
    }
    if task.started is not None:
        body["StartTime"] = iso8601(task.started)
    if task.finished is not None:
        body["EndTime"] = iso8601(task.finished)
    if task.state == "Running":
        # How far it has come: the text so far, in characters, and the tokens it took (as this
        # worker sees it, or as the worker running it last recorded).
        body["Progress"] = {
            "Characters": len(progress.text) if progress else task.progress_chars,
            "InputTokens": progress.input_tokens if progress else task.progress_input_tokens,
            "OutputTokens": progress.output_tokens if progress else task.progress_output_tokens,
        }
    if task.output_key:
        output = {"Bucket": task.output_bucket, "Object": task.output_key, "FileSize": task.output_size}
        body["Output"] = output
    if task.state == "Succeeded":
        body["Usage"] = {"InputTokens": task.input_tokens, "OutputTokens": task.output_tokens}
        if task.chunks > 1:
            body["Chunks"] = task.chunks
    if task.error_code:
        body["Error"] = {"Code": task.error_code, "Message": task.error_message}
    return body


async def _addressed(ctx: Context) -> tuple[TaskRunner, str, str]:
    """The runner, the bucket (which must exist) and the task id in the query ("" for none)."""
    bucket = ctx.require_bucket()
    runner = _runner(ctx)
    await ctx.state.store.bucket(bucket)
    return runner, bucket, ctx.query.get(TASKS, "")


def _runner(ctx: Context) -> TaskRunner:
    runner: TaskRunner | None = ctx.state.tasks
    if runner is None:
        raise errors.ServiceUnavailable("Document processing is not available: no model is loaded.")
    return runner


def _json(ctx: Context, value: dict[str, Any]) -> Response:
    headers = {"Content-Type": JSON_TYPE, "x-oss-server-time": str(ctx.elapsed_ms())}
    return Response(sse.dumps(value).encode(), headers=headers)
