"""The console's asynchronous tasks: submit a document operation to run in the background (its result
saved as an object), list a bucket's tasks with their progress, cancel one. The same task runner
and the same task documents as ``x-oss-async-process`` and ``x-oss-async-task``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ossdoc import errors
from ossdoc.console.common import query_int, query_text, read_json, reply
from ossdoc.console.documents import process_string, service, source
from ossdoc.console.guard import authorized
from ossdoc.services.docs import pipeline
from ossdoc.services.docs.tasks import TaskRunner
from ossdoc.wire.routes.process import check_save_as
from ossdoc.wire.routes.tasks import task_json
from ossdoc.wire.state import AppState


async def submit(request: Request) -> Response:
    caller = await authorized(request)
    state, docs = caller.state, service(caller.state)
    runner = _runner(state)
    bucket = request.path_params["bucket"]
    body = {**await read_json(request), "bucket": bucket}
    process = process_string(docs, body, stream=False)
    parsed = docs.parse_process(process)
    if parsed.save_as is None:
        raise errors.InvalidArgument(
            "A task stores its result as an object: give the key to save it as.", ArgumentName="saveAs"
        )
    _, key = source(body, parsed)
    check_save_as(parsed.save_as)
    store = state.store
    await store.bucket(parsed.save_as.bucket or bucket)
    if pipeline.docx_output(parsed.save_as):
        pipeline.check_docx_output(parsed)
    if parsed.content is None:
        await store.head(bucket, key)
    # With pasted content the task's object is only a placeholder, as in OSS: its result's key.
    task = await runner.submit(bucket, key or parsed.save_as.key, process, caller.request_id)
    return reply(task_json(task), 201)


async def list_tasks(request: Request) -> Response:
    caller = await authorized(request)
    runner, bucket = _runner(caller.state), request.path_params["bucket"]
    await caller.state.store.bucket(bucket)
    marker = query_text(request, "marker", required=False)
    max_tasks = query_int(request, "max", 100, 1, 1000)
    tasks = await runner.list(bucket, marker, max_tasks + 1)
    shown = tasks[:max_tasks]
    return reply(
        {
            "tasks": [task_json(t, runner.progress(t.task_id)) for t in shown],
            "truncated": len(tasks) > max_tasks,
            "nextMarker": shown[-1].task_id if len(tasks) > max_tasks else "",
        }
    )


async def get_task(request: Request) -> Response:
    caller = await authorized(request)
    runner, task_id = _runner(caller.state), request.path_params["task"]
    task = await runner.get(request.path_params["bucket"], task_id)
    return reply(task_json(task, runner.progress(task_id)))


async def cancel_task(request: Request) -> Response:
    caller = await authorized(request)
    runner = _runner(caller.state)
    task = await runner.cancel(request.path_params["bucket"], request.path_params["task"])
    return reply(task_json(task))


def _runner(state: AppState) -> TaskRunner:
    runner: TaskRunner | None = state.tasks
    if runner is None:
        raise errors.ServiceUnavailable("Document processing is not available: no model is loaded.")
    return runner
