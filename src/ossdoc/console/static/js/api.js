// The console API: JSON requests with the session's CSRF token, uploads with progress, and the
// server-sent events of a document operation. The page never sees the access key secret.

const BASE = "api/";
let csrf = "";
let unauthorized = () => {};

// Called when a request is refused for want of a session (expired, signed out elsewhere, key revoked).
export function onUnauthorized(handler) {
  unauthorized = handler;
}

export function setCsrf(token) {
  csrf = token || "";
}

export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

async function failure(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's page, say
  }
  if (response.status === 401) unauthorized();
  return new ApiError(
    response.status,
    body.Code || `HTTP ${response.status}`,
    body.Message || response.statusText || "The request failed.",
    body.RequestId,
  );
}

export async function api(method, path, { json, body, headers = {}, signal } = {}) {
  const init = { method, headers: { ...headers }, signal, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrf;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(BASE + path, init);
  if (!response.ok) throw await failure(response);
  return response.json();
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export function bucketPath(bucket, rest = "") {
  return `buckets/${encodeURIComponent(bucket)}${rest}`;
}

// PUT a blob with XMLHttpRequest, whose upload events give the progress that fetch does not.
export function send(method, path, blob, { contentType, onProgress, onStart } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, BASE + path);
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Content-Type", contentType || "application/octet-stream");
    xhr.upload.onprogress = (event) => onProgress && onProgress(event.loaded);
    xhr.onload = () => {
      let body = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // keep {}
      }
      if (xhr.status === 401) unauthorized();
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body.Code || `HTTP ${xhr.status}`, body.Message || "The upload failed.", body.RequestId));
    };
    xhr.onerror = () => reject(new ApiError(0, "NetworkError", "The connection to ossdoc was lost."));
    xhr.onabort = () => reject(new ApiError(0, "Aborted", "The upload was cancelled."));
    if (onStart) onStart(() => xhr.abort());
    xhr.send(blob);
  });
}

// POST a document request and read its event stream: onEvent(name, data) for every event, until the
// last one or until `signal` aborts. Aborting closes the connection, which cancels the generation.
export async function stream(path, json, onEvent, signal) {
  const response = await fetch(BASE + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "text/event-stream" },
    body: JSON.stringify(json),
    credentials: "same-origin",
    signal,
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith(":")) continue; // a keep-alive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = text;
        else if (field === "data") data.push(text);
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}
