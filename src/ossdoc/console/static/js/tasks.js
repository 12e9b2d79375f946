// A bucket's background tasks, refreshed while any of them is still queued or running.

import { api, bucketPath } from "./api.js";
import { $, describe, formatTime, h, show, toast } from "./ui.js";

const POLL_MS = 1500;
let app;
let bucket = "";
let timer = null;

export function setupTasks(context) {
  app = context;
  $("refresh-tasks").addEventListener("click", () => load());
}

export async function showTasks(inBucket) {
  bucket = inBucket;
  await load();
}

export function stopTasks() {
  clearTimeout(timer);
  timer = null;
}

async function load() {
  stopTasks();
  const shown = bucket;
  let result;
  try {
    result = await api("GET", bucketPath(bucket, "/tasks?max=200"));
  } catch (err) {
    toast(describe(err), "error");
    return;
  }
  if (shown !== bucket) return;
  const tasks = result.tasks.reverse(); // newest first
  $("task-rows").replaceChildren(...tasks.map(row));
  show($("no-tasks"), tasks.length === 0);
  if (tasks.some((t) => t.State === "Queued" || t.State === "Running")) {
    timer = setTimeout(load, POLL_MS);
  }
}

function row(task) {
  const op = task.Process.split(/[,|]/)[0].replace("doc/", "");
  const output = task.Output
    ? h("a", { href: app.objectHash(bucket, parentOf(task.Output.Object)) }, task.Output.Object)
    : h("span", { class: "muted" }, saveKey(task.Process));
  let detail = null;
  if (task.State === "Running" && task.Progress) {
    detail = h("span", { class: "task-progress" }, `${task.Progress.OutputTokens} tokens, ${task.Progress.Characters} characters`);
  } else if (task.State === "Succeeded" && task.Usage) {
    detail = h("span", { class: "task-progress" }, `${task.Usage.InputTokens} in, ${task.Usage.OutputTokens} out`);
  } else if (task.Error) {
    detail = h("span", { class: "task-error" }, task.Error.Message);
  }
  const cancellable = task.State === "Queued" || task.State === "Running";
  return h(
    "tr",
    {},
    h("td", {}, h("strong", {}, op), h("div", { class: "task-id" }, task.TaskId)),
    h("td", { class: "task-files" }, h("span", {}, task.Object), h("span", { class: "arrow", "aria-hidden": "true" }, " → "), output),
    h("td", {}, h("span", { class: `badge badge-${task.State.toLowerCase()}` }, task.State), detail ? h("div", {}, detail) : null),
    h("td", { class: "when" }, formatTime(Date.parse(task.CreationTime) / 1000)),
    h("td", {}, cancellable ? h("button", { type: "button", class: "btn btn-ghost small", onclick: () => cancel(task.TaskId) }, "Cancel") : null),
  );
}

function parentOf(key) {
  const cut = key.lastIndexOf("/");
  return cut < 0 ? "" : key.slice(0, cut + 1);
}

function saveKey(process) {
  const match = /sys\/saveas,o_([A-Za-z0-9_-]+)/.exec(process);
  if (!match) return "";
  try {
    const b64 = match[1].replace(/-/g, "+").replace(/_/g, "/");
    return new TextDecoder().decode(Uint8Array.from(atob(b64 + "===".slice((b64.length + 3) % 4)), (c) => c.charCodeAt(0)));
  } catch {
    return "";
  }
}

async function cancel(taskId) {
  try {
    await api("DELETE", bucketPath(bucket, `/tasks/${encodeURIComponent(taskId)}`));
    toast("Task cancelled", "success");
  } catch (err) {
    toast(describe(err), "error");
  }
  await load();
}
