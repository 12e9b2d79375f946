// The console: sign in, then one view per address (#/b/<bucket>/objects?prefix=…, …/process, …/tasks).

import { api, onUnauthorized, setCsrf } from "./api.js";
import { loadBuckets, markCurrentBucket, refreshListing, setupObjects, showFolder } from "./objects.js";
import { setupProcess, showProcess } from "./process.js";
import { setupTasks, showTasks, stopTasks } from "./tasks.js";
import { $, describe, setError, show, toast } from "./ui.js";

const enc = encodeURIComponent;
const app = {
  route: { view: "home", bucket: "" },
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  objectHash: (bucket, prefix) => `#/b/${enc(bucket)}/objects${prefix ? `?prefix=${enc(prefix)}` : ""}`,
  processHash: (bucket, key) => `#/b/${enc(bucket)}/process${key ? `?key=${enc(key)}` : ""}`,
  tasksHash: (bucket) => `#/b/${enc(bucket)}/tasks`,
  objectsChanged() {
    if (app.route.view === "objects") refreshListing();
  },
};

function parse(hash) {
  const [path, search = ""] = hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(search);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "process") return { view: "process", bucket: "" };
  if (parts[0] === "b" && parts[1]) {
    const view = ["objects", "process", "tasks"].includes(parts[2]) ? parts[2] : "objects";
    return { view, bucket: parts[1], prefix: params.get("prefix") || "", key: params.get("key") || "" };
  }
  return { view: "home", bucket: "" };
}

async function route() {
  const target = parse(location.hash);
  app.route = target;
  stopTasks();
  markCurrentBucket(target.bucket);
  show($("home-view"), target.view === "home");
  show($("bucket-view"), Boolean(target.bucket));
  show($("objects-panel"), target.view === "objects");
  show($("tasks-panel"), target.view === "tasks");
  show($("process-panel"), target.view === "process");
  // The process panel sits under the bucket's tabs when it belongs to a bucket.
  if (target.view === "process") (target.bucket ? $("bucket-view") : $("content")).append($("process-panel"));
  if (target.bucket) {
    $("bucket-title").textContent = target.bucket;
    for (const [tab, hash] of [["objects", app.objectHash(target.bucket, "")], ["process", app.processHash(target.bucket, "")], ["tasks", app.tasksHash(target.bucket)]]) {
      const link = $(`tab-${tab}`);
      link.href = hash;
      if (tab === target.view) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }
  document.title = target.bucket ? `${target.bucket} · ossdoc console` : "ossdoc console";
  try {
    if (target.view === "objects") await showFolder(target.bucket, target.prefix);
    else if (target.view === "process") await showProcess(target.bucket, target.key);
    else if (target.view === "tasks") await showTasks(target.bucket);
  } catch (err) {
    toast(describe(err), "error");
  }
}

async function enter(session) {
  setCsrf(session.csrf);
  $("account-key").textContent = session.accessKeyId;
  show($("account"), true);
  show($("signin-view"), false);
  show($("app-view"), true);
  await loadBuckets();
  await route();
}

function leave(session) {
  setCsrf(session.csrf);
  show($("account"), false);
  show($("app-view"), false);
  show($("signin-view"), true);
  $("signin-id").focus();
}

async function signIn(event) {
  event.preventDefault();
  const error = $("signin-error");
  const submit = $("signin-submit");
  setError(error, null);
  const accessKeyId = $("signin-id").value.trim();
  const accessKeySecret = $("signin-secret").value;
  if (!accessKeyId || !accessKeySecret) {
    setError(error, new Error("Enter both the AccessKey ID and its secret."));
    return;
  }
  submit.disabled = true;
  const attempt = () => api("POST", "session", { json: { accessKeyId, accessKeySecret } });
  try {
    let session;
    try {
      session = await attempt();
    } catch (err) {
      if (err.code !== "InvalidCsrfToken") throw err;
      setCsrf((await api("GET", "session")).csrf); // the page stayed open past the token's hour
      session = await attempt();
    }
    $("signin-secret").value = "";
    await enter(session);
  } catch (err) {
    setError(error, err.code === "InvalidAccessKeySecret" ? new Error("That secret is not right for this AccessKey ID. Check it and try again.") : err);
    $("signin-secret").select();
  } finally {
    submit.disabled = false;
  }
}

async function signOut() {
  try {
    await api("DELETE", "session");
  } catch {
    // the session may already be gone
  }
  leave(await api("GET", "session"));
}

// A request refused for want of a session (expired, or its key revoked) brings back the sign-in form.
async function sessionLost() {
  if ($("app-view").hidden) return;
  toast("Your session has ended: sign in again.", "error");
  leave(await api("GET", "session"));
}

async function start() {
  setupObjects(app);
  setupProcess(app);
  setupTasks(app);
  onUnauthorized(sessionLost);
  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  const session = await api("GET", "session");
  show($("booting"), false);
  if (session.signedIn) await enter(session);
  else leave(session);
}

start().catch((err) => {
  $("booting").textContent = `The console could not start: ${describe(err)}`;
});
