// Document operations: the form, a run streamed live (or waited for, or sent to the background),
// its usage, and saving its result.

import { api, bucketPath, query, stream } from "./api.js";
import { $, describe, formatBytes, formatDuration, h, setError, show, toast } from "./ui.js";

const ABOUT = {
  "doc/translate": "Translate the text into another language.",
  "doc/polish": "Correct mistakes and make the text clearer, keeping its meaning.",
  "doc/summarize": "A short summary in the text's own language.",
  "doc/continue": "Write what comes next, in the same style.",
  "doc/enrich": "Expand the text with details, examples and explanations.",
  "doc/rephrase": "Rewrite the text in another tone.",
};
const MODE_HELP = {
  stream: "The text appears as it is generated. Stop ends the generation on the server.",
  json: "One reply when the text is complete; give a key below to save it as an object directly.",
  task: "Runs in the background even if you leave; the result is saved as an object.",
};

let app;
let catalog = null; // { operations: [...], limits: {...} }
let bucket = ""; // "" when processing pasted text outside any bucket
let running = null; // AbortController of the run in progress
let last = null; // { text, operation, key, params } of the last finished run
let history = []; // earlier generations, for doc/continue

export function setupProcess(context) {
  app = context;
  $("process-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  $("stop").addEventListener("click", () => running && running.abort());
  for (const radio of document.querySelectorAll("input[name=source], input[name=mode]")) {
    radio.addEventListener("change", syncForm);
  }
  $("operation").addEventListener("change", () => {
    history = [];
    renderParameters();
  });
  $("process-text").addEventListener("input", syncTextSize);
  $("save-form").addEventListener("submit", saveText);
  $("save-docx").addEventListener("click", saveDocx);
  $("continue-more").addEventListener("click", () => {
    history.push(last.text);
    renderParameters();
    run();
  });
}

export async function showProcess(inBucket, key) {
  bucket = inBucket || "";
  if (!catalog) {
    catalog = await api("GET", "operations");
    $("operation").replaceChildren(...catalog.operations.map((op) => h("option", { value: op.name }, label(op.name))));
    $("operation").value = "doc/summarize";
    renderParameters();
  }
  show($("process-title"), !bucket);
  $("source-object").disabled = !bucket;
  $("mode-task").disabled = !bucket;
  if (!bucket) {
    $("source-text").checked = true;
    if ($("mode-task").checked) $("mode-stream").checked = true;
  } else if (key) {
    $("source-object").checked = true;
    $("process-key").value = key;
  }
  syncForm();
}

function label(name) {
  const short = name.replace("doc/", "");
  return short.charAt(0).toUpperCase() + short.slice(1);
}

function operation() {
  return catalog.operations.find((op) => op.name === $("operation").value);
}

function renderParameters() {
  const op = operation();
  $("operation-help").textContent = ABOUT[op.name] || "";
  const fields = op.parameters.map((p) => {
    const id = `param-${p.name}`;
    if (p.kind === "choice") {
      const previous = document.getElementById(id)?.value;
      const select = h("select", { id, "data-param": p.name }, ...p.choices.map((c) => h("option", { value: c.value }, c.label)));
      if (previous) select.value = previous;
      return h("div", { class: "field" }, h("label", { for: id }, label(p.name)), select);
    }
    if (p.kind === "history") {
      const count = history.length;
      return h(
        "div",
        { class: "field history" },
        h("span", { class: "label" }, "History"),
        h("p", { class: "hint" }, count ? `${count} earlier generation${count > 1 ? "s" : ""} will be sent, so the model goes on from them.` : "None yet: after a run, “Continue further” sends it as history."),
        count ? h("button", { type: "button", class: "btn btn-ghost small", onclick: () => { history = []; renderParameters(); } }, "Clear history") : null,
      );
    }
    return null;
  });
  $("parameters").replaceChildren(...fields.filter(Boolean));
}

function syncForm() {
  const fromObject = $("source-object").checked;
  show($("object-field"), fromObject);
  show($("text-field"), !fromObject);
  const mode = currentMode();
  $("mode-help").textContent = MODE_HELP[mode];
  show($("saveas-field"), Boolean(bucket) && mode !== "stream");
  $("saveas-key").required = mode === "task";
  syncTextSize();
}

function syncTextSize() {
  if (!catalog) return;
  const size = new TextEncoder().encode($("process-text").value).length;
  const limit = catalog.limits.contentBytes;
  const note = $("text-size");
  note.textContent = `${formatBytes(size)} of at most ${formatBytes(limit)}`;
  note.classList.toggle("over", size > limit);
}

function currentMode() {
  return document.querySelector("input[name=mode]:checked").value;
}

function request(mode) {
  const op = operation();
  const body = { operation: op.name, mode, params: {} };
  for (const select of $("parameters").querySelectorAll("[data-param]")) body.params[select.dataset.param] = select.value;
  if (op.parameters.some((p) => p.kind === "history") && history.length) body.params.history = history;
  if ($("source-object").checked) {
    body.bucket = bucket;
    body.key = $("process-key").value.trim();
  } else {
    if (bucket) body.bucket = bucket;
    body.content = $("process-text").value;
  }
  return body;
}

async function run() {
  if (running) return;
  const mode = currentMode();
  const body = request(mode);
  const saveAs = $("saveas-key").value.trim();
  setError($("process-error"), null);
  if (mode === "task") {
    if (!saveAs) {
      setError($("process-error"), new Error("A background task saves its result: give the key to save it as."));
      $("saveas-key").focus();
      return;
    }
    try {
      const task = await api("POST", bucketPath(bucket, "/tasks"), { json: { ...body, saveAs: { key: saveAs } } });
      toast(`Task ${task.TaskId} submitted`, "success");
      app.go(app.tasksHash(bucket));
    } catch (err) {
      setError($("process-error"), err);
    }
    return;
  }
  if (mode === "json" && saveAs) body.saveAs = { key: saveAs };
  await generate(body, mode);
}

// One run, streamed or not; the result card shows the text, the status and the usage.
async function generate(body, mode) {
  const output = $("output");
  const started = performance.now();
  let firstAt = null;
  let outputTokens = 0;
  let chunks = 1;
  running = new AbortController();
  setRunning(true);
  show($("save-form"), false);
  if (window.matchMedia("(max-width: 1099px)").matches) $("result").scrollIntoView({ block: "start", behavior: "smooth" });
  output.textContent = "";
  output.classList.add("growing");
  setUsage({});
  status(mode === "stream" ? "Waiting for the model…" : "Working… the reply comes when the text is complete", "busy");
  const usage = (data, done) => {
    const now = performance.now();
    if (firstAt === null && data.Output.Text) firstAt = now;
    outputTokens = data.Usage.OutputTokens;
    const seconds = firstAt === null ? 0 : (now - firstAt) / 1000;
    setUsage({
      in: data.Usage.InputTokens,
      out: outputTokens,
      ttft: firstAt === null ? null : firstAt - started,
      rate: seconds > 0.05 && outputTokens > 1 ? (outputTokens - 1) / seconds : null,
      total: done ? now - started : null,
    });
  };
  try {
    if (mode === "stream") {
      let finished = false;
      await stream(
        "process",
        body,
        (event, data) => {
          if (event === "error") throw Object.assign(new Error(data.Message), { code: data.Code });
          output.textContent = data.Output.Text;
          output.scrollTop = output.scrollHeight;
          finished = event === "Result";
          chunks = data.Chunks || 1;
          usage(data, finished);
          if (!finished) status(`Generating… ${data.Usage.OutputTokens} tokens`, "busy");
        },
        running.signal,
      );
      if (!finished) throw new Error("The stream ended before the result.");
    } else {
      const reply = await api("POST", "process", { json: body, signal: running.signal });
      output.textContent = reply.text;
      chunks = reply.chunks;
      firstAt = performance.now();
      setUsage({ in: reply.usage.inputTokens, out: reply.usage.outputTokens, total: performance.now() - started });
      if (reply.saved) {
        toast(`Saved as ${reply.saved.key} (${formatBytes(reply.saved.size)})`, "success");
        app.objectsChanged();
      }
    }
    status(chunks > 1 ? `Done, in ${chunks} pieces` : "Done", "done");
    last = { text: output.textContent, body };
    offerSave(body);
  } catch (err) {
    if (err.name === "AbortError") {
      $("u-total").textContent = formatDuration(performance.now() - started);
      status("Stopped: the generation was cancelled", "stopped");
      last = null;
    } else {
      status("Failed", "failed");
      setError($("process-error"), err);
    }
  } finally {
    output.classList.remove("growing");
    running = null;
    setRunning(false);
  }
}

function setRunning(on) {
  $("run").disabled = on;
  $("stop").disabled = !on;
  $("run").textContent = on ? "Running…" : "Run";
  if (!on && document.activeElement === $("stop")) $("run").focus();
}

function status(text, kind) {
  const el = $("result-status");
  el.textContent = text;
  el.className = `status status-${kind}`;
}

function setUsage({ in: input, out, ttft, rate, total }) {
  $("u-in").textContent = input ?? "–";
  $("u-out").textContent = out ?? "–";
  $("u-ttft").textContent = ttft == null ? "–" : formatDuration(ttft);
  $("u-rate").textContent = rate == null ? "–" : rate.toFixed(1);
  $("u-total").textContent = total == null ? "–" : formatDuration(total);
}

function offerSave(body) {
  if (!bucket) return;
  const op = body.operation.replace("doc/", "");
  const base = body.key ? body.key.replace(/\.[^./]+$/, "") : `${op}-result`;
  const language = body.params.language ? `.${body.params.language}` : "";
  $("save-key").value = `${base}.${op}${language}.txt`;
  const docx = Boolean(body.key && /\.docx$/i.test(body.key) && operation().docx);
  show($("save-docx"), docx);
  show($("continue-more"), body.operation === "doc/continue");
  $("save-help").textContent = docx
    ? "Save the text shown, or rewrite the Word document itself in place (every paragraph, keeping its style)."
    : "Save the text shown as a UTF-8 text object in this bucket.";
  show($("save-form"), true);
}

async function saveText(event) {
  event.preventDefault();
  const key = $("save-key").value.trim();
  if (!key || !last) return;
  try {
    const blob = new Blob([last.text], { type: "text/plain;charset=utf-8" });
    await api("PUT", bucketPath(bucket, `/object${query({ key })}`), { body: blob, headers: { "Content-Type": "text/plain;charset=utf-8" } });
    toast(`Saved as ${key}`, "success");
    app.objectsChanged();
  } catch (err) {
    toast(describe(err), "error");
  }
}

async function saveDocx() {
  if (!last || running) return;
  const key = `${$("save-key").value.trim().replace(/\.(txt|docx)$/i, "")}.docx`;
  $("save-key").value = key;
  const body = { ...last.body, mode: "json", saveAs: { key } };
  delete body.content;
  $("save-docx").disabled = true;
  status("Rewriting the document paragraph by paragraph…", "busy");
  try {
    const reply = await api("POST", "process", { json: body });
    status(`Saved ${reply.saved.key}`, "done");
    toast(`Saved as ${reply.saved.key} (${formatBytes(reply.saved.size)})`, "success");
    app.objectsChanged();
  } catch (err) {
    status("Failed", "failed");
    setError($("process-error"), err);
  } finally {
    $("save-docx").disabled = false;
  }
}
