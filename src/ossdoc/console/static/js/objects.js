// Buckets and objects: the bucket list, a folder's listing page by page, uploads, object details.

import { api, bucketPath, query, send } from "./api.js";
import { $, ask, describe, formatBytes, formatTime, h, setError, show, toast } from "./ui.js";

const PAGE_SIZE = 100;
export const PART_SIZE = 8 * 1024 * 1024; // larger files go up in parts of this size

let app; // { go(hash), route, objectHash(bucket, prefix), processHash(bucket, key) }
const listing = { bucket: "", prefix: "", markers: [""], page: 0, nextMarker: "" };
let detailsKey = "";

export function setupObjects(context) {
  app = context;
  $("new-bucket-form").addEventListener("submit", createBucket);
  $("delete-bucket").addEventListener("click", deleteBucket);
  $("refresh").addEventListener("click", () => loadPage());
  $("new-folder").addEventListener("click", newFolder);
  $("delete-folder").addEventListener("click", deleteFolder);
  $("prev-page").addEventListener("click", () => turnPage(-1));
  $("next-page").addEventListener("click", () => turnPage(1));
  $("file-input").addEventListener("change", (event) => {
    uploadAll([...event.target.files]);
    event.target.value = "";
  });
  setupDropzone($("dropzone"));
  $("details-close").addEventListener("click", () => $("details").close());
  $("details-preview").addEventListener("click", previewDetails);
  $("details-delete").addEventListener("click", deleteDetails);
  $("details-process").addEventListener("click", () => {
    $("details").close();
    app.go(app.processHash(listing.bucket, detailsKey));
  });
}

// Buckets ------------------------------------------------------------------------------------
export async function loadBuckets() {
  const { buckets } = await api("GET", "buckets");
  const list = $("bucket-list");
  list.replaceChildren(
    ...buckets.map((b) =>
      h("li", {}, h("a", { href: app.objectHash(b.name, ""), "data-bucket": b.name }, h("span", { class: "bucket-icon", "aria-hidden": "true" }), b.name)),
    ),
  );
  if (!buckets.length) list.append(h("li", { class: "muted none" }, "No buckets yet"));
  $("bucket-count").textContent = buckets.length ? String(buckets.length) : "";
  markCurrentBucket(app.route.bucket);
  return buckets;
}

export function markCurrentBucket(bucket) {
  for (const link of $("bucket-list").querySelectorAll("a")) {
    if (link.dataset.bucket === bucket) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function createBucket(event) {
  event.preventDefault();
  const input = $("new-bucket-name");
  const error = $("new-bucket-error");
  setError(error, null);
  try {
    const bucket = await api("POST", "buckets", { json: { name: input.value.trim() } });
    input.value = "";
    toast(`Bucket ${bucket.name} created`, "success");
    await loadBuckets();
    app.go(app.objectHash(bucket.name, ""));
  } catch (err) {
    setError(error, err);
    input.focus();
  }
}

async function deleteBucket() {
  const bucket = listing.bucket;
  const sure = await ask({ title: `Delete bucket ${bucket}?`, text: "Only an empty bucket can be deleted.", ok: "Delete bucket", danger: true });
  if (!sure) return;
  try {
    await api("DELETE", bucketPath(bucket));
    toast(`Bucket ${bucket} deleted`, "success");
    await loadBuckets();
    app.go("#/");
  } catch (err) {
    toast(describe(err), "error");
  }
}

// Listing ------------------------------------------------------------------------------------
export async function showFolder(bucket, prefix) {
  if (bucket !== listing.bucket || prefix !== listing.prefix) {
    Object.assign(listing, { bucket, prefix, markers: [""], page: 0, nextMarker: "" });
  }
  renderCrumbs();
  show($("delete-folder"), Boolean(prefix));
  await loadPage();
}

async function turnPage(step) {
  if (step > 0 && listing.nextMarker) {
    listing.markers[listing.page + 1] = listing.nextMarker;
    listing.page += 1;
  } else if (step < 0 && listing.page > 0) {
    listing.page -= 1;
  }
  await loadPage();
}

async function loadPage() {
  const { bucket, prefix, markers, page } = listing;
  const path = bucketPath(bucket, `/objects${query({ prefix, marker: markers[page], max: PAGE_SIZE })}`);
  let result;
  try {
    result = await api("GET", path);
  } catch (err) {
    $("object-rows").replaceChildren();
    toast(describe(err), "error");
    return;
  }
  if (bucket !== listing.bucket || prefix !== listing.prefix) return; // moved on meanwhile
  listing.nextMarker = result.nextMarker;
  const rows = [
    ...result.folders.map((folder) =>
      h(
        "tr",
        { class: "folder" },
        h("td", {}, h("a", { href: app.objectHash(bucket, folder), class: "name" }, h("span", { class: "folder-icon", "aria-hidden": "true" }), folder.slice(prefix.length))),
        h("td", { class: "num muted" }, "Folder"),
        h("td", { class: "when" }, ""),
      ),
    ),
    ...result.objects
      .filter((o) => o.key !== prefix) // a folder's own marker object
      .map((o) =>
        h(
          "tr",
          {},
          h(
            "td",
            {},
            h("button", { type: "button", class: "name link", onclick: () => openDetails(o.key) }, h("span", { class: `file-icon ${fileKind(o.key)}`, "aria-hidden": "true" }), o.key.slice(prefix.length)),
          ),
          h("td", { class: "num" }, formatBytes(o.size)),
          h("td", { class: "when" }, formatTime(o.lastModified)),
        ),
      ),
  ];
  $("object-rows").replaceChildren(...rows);
  show($("empty-folder"), rows.length === 0);
  show($("object-table"), rows.length > 0);
  show($("drop-tip"), rows.length > 0);
  const first = page * PAGE_SIZE + 1;
  $("page-info").textContent = rows.length ? `Items ${first}–${first + rows.length - 1}${result.truncated ? "" : " (end)"}` : "";
  $("prev-page").disabled = page === 0;
  $("next-page").disabled = !result.truncated;
  // Offer the keys of this page when choosing a document to process.
  $("object-keys").replaceChildren(...result.objects.map((o) => h("option", { value: o.key })));
}

function fileKind(key) {
  const ext = key.split(".").pop().toLowerCase();
  if (["docx", "doc", "odt"].includes(ext)) return "word";
  if (["pdf"].includes(ext)) return "pdf";
  if (["xlsx", "csv"].includes(ext)) return "sheet";
  if (["pptx"].includes(ext)) return "slides";
  if (["txt", "md", "json", "html", "htm"].includes(ext)) return "text";
  return "other";
}

function renderCrumbs() {
  const { bucket, prefix } = listing;
  const parts = prefix.split("/").filter(Boolean);
  const crumbs = [h("a", { href: app.objectHash(bucket, "") }, bucket)];
  let path = "";
  for (const [i, part] of parts.entries()) {
    path += `${part}/`;
    crumbs.push(h("span", { class: "sep", "aria-hidden": "true" }, "/"));
    crumbs.push(i === parts.length - 1 ? h("span", { "aria-current": "page" }, part) : h("a", { href: app.objectHash(bucket, path) }, part));
  }
  $("crumbs").replaceChildren(...crumbs);
}

async function newFolder() {
  const name = await ask({ title: "New folder", input: "Folder name", ok: "Create" });
  if (!name) return;
  const key = `${listing.prefix}${name.replace(/\/+$/, "")}/`;
  try {
    await api("PUT", bucketPath(listing.bucket, `/object${query({ key })}`), { body: new Blob([]) });
    app.go(app.objectHash(listing.bucket, key));
  } catch (err) {
    toast(describe(err), "error");
  }
}

async function deleteFolder() {
  const { bucket, prefix } = listing;
  const sure = await ask({ title: `Delete the folder ${prefix}?`, text: "Every object in it, and in its folders, is deleted.", ok: "Delete folder", danger: true });
  if (!sure) return;
  try {
    const { deleted } = await api("DELETE", bucketPath(bucket, `/folder${query({ prefix })}`));
    toast(`Deleted ${prefix} (${deleted} object${deleted === 1 ? "" : "s"})`, "success");
    const parent = prefix.slice(0, prefix.slice(0, -1).lastIndexOf("/") + 1);
    app.go(app.objectHash(bucket, parent));
  } catch (err) {
    toast(describe(err), "error");
  }
}

// Uploads ------------------------------------------------------------------------------------
function setupDropzone(zone) {
  let depth = 0;
  zone.addEventListener("dragenter", (event) => {
    if (!event.dataTransfer.types.includes("Files")) return;
    event.preventDefault();
    depth += 1;
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragover", (event) => {
    if (event.dataTransfer.types.includes("Files")) event.preventDefault();
  });
  zone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove("dragging");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    zone.classList.remove("dragging");
    uploadAll([...event.dataTransfer.files]);
  });
}

export async function uploadAll(files) {
  const { bucket, prefix } = listing;
  for (const file of files) {
    await uploadOne(bucket, prefix + file.name, file);
  }
  if (bucket === listing.bucket && prefix === listing.prefix) await loadPage();
}

async function uploadOne(bucket, key, file) {
  const bar = h("progress", { max: file.size || 1, value: 0, "aria-label": `Uploading ${file.name}` });
  const state = h("span", { class: "upload-state" }, "0%");
  const cancel = h("button", { type: "button", class: "btn btn-ghost small" }, "Cancel");
  const row = h("li", { class: "upload" }, h("span", { class: "upload-name" }, key), bar, state, cancel);
  $("uploads").append(row);
  let abort = () => {};
  let cancelled = false;
  cancel.addEventListener("click", () => {
    cancelled = true;
    abort();
  });
  const progress = (sent) => {
    bar.value = sent;
    state.textContent = `${Math.floor((100 * sent) / (file.size || 1))}%`;
  };
  const contentType = file.type || "application/octet-stream";
  try {
    if (file.size <= PART_SIZE) {
      await send("PUT", bucketPath(bucket, `/object${query({ key })}`), file, { contentType, onProgress: progress, onStart: (stop) => (abort = stop) });
    } else {
      await multipart(bucket, key, file, contentType, progress, (stop) => (abort = stop), () => cancelled);
    }
    progress(file.size);
    row.classList.add("done");
    state.textContent = "Uploaded";
    cancel.remove();
    setTimeout(() => row.remove(), 2500);
  } catch (err) {
    row.classList.add("failed");
    state.textContent = describe(err);
    cancel.textContent = "Dismiss";
    cancel.onclick = () => row.remove();
  }
}

async function multipart(bucket, key, file, contentType, progress, onStart, cancelled) {
  const { uploadId } = await api("POST", bucketPath(bucket, "/uploads"), { json: { key, contentType } });
  const uploadPath = bucketPath(bucket, `/uploads/${encodeURIComponent(uploadId)}`);
  try {
    for (let start = 0, part = 1; start < file.size; start += PART_SIZE, part += 1) {
      if (cancelled()) throw new Error("The upload was cancelled.");
      const slice = file.slice(start, Math.min(start + PART_SIZE, file.size));
      await send("PUT", `${uploadPath}${query({ key, part })}`, slice, { onProgress: (sent) => progress(start + sent), onStart });
    }
    await api("POST", `${uploadPath}/complete${query({ key })}`, { json: {} });
  } catch (err) {
    await api("DELETE", `${uploadPath}${query({ key })}`).catch(() => {});
    throw err;
  }
}

// Details ------------------------------------------------------------------------------------
export async function openDetails(key) {
  detailsKey = key;
  const bucket = listing.bucket;
  let meta;
  try {
    meta = await api("GET", bucketPath(bucket, `/object${query({ key })}`));
  } catch (err) {
    toast(describe(err), "error");
    return;
  }
  $("details-title").textContent = key.split("/").filter(Boolean).pop() || key;
  const rows = [
    ["Key", key],
    ["Size", `${formatBytes(meta.size)} (${meta.size.toLocaleString()} bytes)`],
    ["Type", meta.contentType],
    ["Last modified", formatTime(meta.lastModified)],
    ["ETag", meta.etag],
    ["CRC-64", meta.crc64],
    ["Object type", meta.type],
    ["Storage class", meta.storageClass],
    ["ACL", meta.acl],
    ...Object.entries(meta.headers).map(([k, v]) => [k, v]),
    ...Object.entries(meta.userMeta).map(([k, v]) => [k, v]),
    ...Object.entries(meta.tags).map(([k, v]) => [`Tag ${k}`, v]),
  ];
  $("details-meta").replaceChildren(...rows.flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, String(value))]));
  $("details-download").href = `api/${bucketPath(bucket, `/download${query({ key })}`)}`;
  show($("details-preview-box"), false);
  $("details").showModal();
}

async function previewDetails() {
  const box = $("details-preview-box");
  const note = $("preview-note");
  const text = $("preview-text");
  show(box, true);
  note.textContent = "Reading…";
  text.textContent = "";
  try {
    const result = await api("GET", bucketPath(listing.bucket, `/preview${query({ key: detailsKey })}`));
    const kind = result.kind === "text" ? "Text" : `Text extracted from the ${result.kind.toUpperCase()} document`;
    note.textContent = result.truncated ? `${kind} (beginning only)` : kind;
    text.textContent = result.text;
  } catch (err) {
    note.textContent = describe(err);
  }
}

async function deleteDetails() {
  const key = detailsKey;
  const sure = await ask({ title: "Delete this object?", text: key, ok: "Delete", danger: true });
  if (!sure) return;
  try {
    await api("DELETE", bucketPath(listing.bucket, `/object${query({ key })}`));
    $("details").close();
    toast(`Deleted ${key}`, "success");
    await loadPage();
  } catch (err) {
    toast(describe(err), "error");
  }
}

export function refreshListing() {
  return loadPage();
}
