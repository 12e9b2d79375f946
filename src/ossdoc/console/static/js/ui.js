// Small DOM helpers: elements, formatting, notices and the confirmation dialog.

export const $ = (id) => document.getElementById(id);

// h("a", {href: "#", class: "x", onclick: f}, "text", child...) → element
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function show(el, visible = true) {
  el.hidden = !visible;
}

export function formatBytes(size) {
  if (size < 1024) return `${size} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = size;
  let unit = -1;
  do {
    value /= 1024;
    unit += 1;
  } while (value >= 1024 && unit < units.length - 1);
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatTime(seconds) {
  return dateFormat.format(new Date(seconds * 1000));
}

export function formatDuration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

export function setError(el, error) {
  if (!error) {
    el.hidden = true;
    el.textContent = "";
    return;
  }
  el.textContent = describe(error);
  el.hidden = false;
}

export function describe(error) {
  if (error && error.code && error.code !== "Error") return `${error.message} (${error.code})`;
  return (error && error.message) || String(error);
}

export function toast(message, kind = "info") {
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  $("toasts").append(item);
  setTimeout(() => item.classList.add("leaving"), 4200);
  setTimeout(() => item.remove(), 4600);
}

// A modal question: resolves to true/false, or to the typed text (null when cancelled) with `input`.
export function ask({ title, text = "", ok = "OK", danger = false, input = null, value = "" }) {
  const dialog = $("ask");
  $("ask-title").textContent = title;
  $("ask-text").textContent = text;
  show($("ask-text"), Boolean(text));
  const okButton = $("ask-ok");
  okButton.textContent = ok;
  okButton.className = danger ? "btn btn-danger" : "btn btn-primary";
  show($("ask-field"), input !== null);
  const field = $("ask-input");
  if (input !== null) {
    $("ask-label").textContent = input;
    field.value = value;
  }
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        const confirmed = dialog.returnValue === "ok";
        if (input !== null) resolve(confirmed && field.value.trim() ? field.value.trim() : null);
        else resolve(confirmed);
      },
      { once: true },
    );
    dialog.returnValue = "cancel";
    dialog.showModal();
    (input !== null ? field : $("ask-cancel")).focus();
  });
}
