// Attachments of the chat composer (POST /api/files/): the attach button, drag-and-drop
// and paste; a tray of thumbnails and chips with upload progress, errors and remove; and
// how a sent message shows its files (images to enlarge, documents whose text opens).

import { del, get, upload } from "./api.js";
import { t } from "./i18n.js";
import { el, formatBytes, icon } from "./ui.js";

const tray = document.getElementById("attach-tray");
const fileInput = document.getElementById("attach-input");
const attachButton = document.getElementById("attach-button");
const box = document.getElementById("composer-box");
const dialog = document.getElementById("file-dialog");
const dialogTitle = document.getElementById("file-dialog-title");
const dialogBody = document.getElementById("file-dialog-body");

let counter = 0;
/** @type {{key: number, name: string, size: number, image: boolean, status: string, file: object|null, error: string, preview: string, progress: number}[]} */
let pending = [];
let changed = () => {};

/** Wire the composer; `onChange` runs whenever the tray changes (the send button follows it). */
export function initAttachments({ onChange, dropZone, pasteTarget }) {
  changed = onChange;
  attachButton.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    addFiles([...fileInput.files]);
    fileInput.value = "";
  });
  pasteTarget.addEventListener("paste", (event) => {
    const files = [...((event.clipboardData && event.clipboardData.files) || [])];
    if (!files.length) return;
    // A screenshot arrives as a file alone; text copied with a picture keeps its text.
    if (!event.clipboardData.types.includes("text/plain")) event.preventDefault();
    addFiles(files);
  });
  let depth = 0;
  const carriesFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  dropZone.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth += 1;
    box.classList.add("dragging");
  });
  dropZone.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  dropZone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) box.classList.remove("dragging");
  });
  dropZone.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth = 0;
    box.classList.remove("dragging");
    addFiles([...event.dataTransfer.files]);
  });
  document.getElementById("file-dialog-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
  });
}

/** Upload each file at once; its chip shows progress, then a thumbnail or its error. */
export function addFiles(files) {
  for (const file of files) {
    const item = { key: ++counter, name: file.name || "image.png", size: file.size, image: /^image\//.test(file.type), status: "uploading", file: null, error: "", preview: "", progress: 0 };
    pending.push(item);
    if (item.image && file.size <= 10 * 1024 * 1024) {
      const reader = new FileReader();
      reader.addEventListener("load", () => {
        item.preview = String(reader.result);
        render();
      });
      reader.readAsDataURL(file);
    }
    const form = new FormData();
    form.append("file", file, item.name);
    upload("/api/files/", form, {
      onProgress: (fraction) => {
        item.progress = fraction;
        const bar = tray.querySelector(`[data-key="${item.key}"] progress`);
        if (bar) bar.value = fraction;
      },
    })
      .then((stored) => {
        if (!pending.includes(item)) {
          del(`/api/files/${encodeURIComponent(stored.id)}`).catch(() => {}); // removed while uploading
          return;
        }
        Object.assign(item, { status: "ready", file: stored, image: stored.kind === "image" });
      })
      .catch((error) => Object.assign(item, { status: "error", error: error.message || t("unexpected_error") }))
      .finally(render);
  }
  render();
}

function remove(item) {
  pending = pending.filter((other) => other !== item);
  if (item.status === "ready") del(`/api/files/${encodeURIComponent(item.file.id)}`).catch(() => {});
  render();
}

function render() {
  tray.hidden = !pending.length;
  tray.replaceChildren(...pending.map(chip));
  changed();
}

function chip(item) {
  const thumb = item.image && item.status !== "error" && (item.preview || item.status === "ready")
    ? el("img", { class: "attach-thumb", src: item.preview || contentUrl(item.file.id), alt: "" })
    : el("span", { class: "attach-icon" }, icon("file", 18));
  let detail;
  if (item.status === "uploading") detail = el("progress", { class: "attach-progress", max: 1, value: item.progress, "aria-label": t("uploading") });
  else if (item.status === "error") detail = el("span", { class: "attach-error", role: "alert", text: item.error });
  else detail = el("span", { class: "attach-size", text: formatBytes(item.file.size) });
  const removeButton = el("button", { class: "icon-btn attach-remove", type: "button", "aria-label": t("attach_remove", { name: item.name }), title: t("attach_remove", { name: item.name }) }, icon("close", 14));
  removeButton.addEventListener("click", () => remove(item));
  return el(
    "li",
    { class: `attach-chip attach-${item.status}${item.image ? " attach-image" : ""}`, dataset: { key: item.key, status: item.status } },
    thumb,
    el("span", { class: "attach-text" }, el("span", { class: "attach-name", title: item.name, text: item.name }), detail),
    removeButton,
  );
}

/** The ids of the uploaded files, in the order they were added. */
export function readyFiles() {
  return pending.filter((item) => item.status === "ready").map((item) => item.file);
}

export function uploading() {
  return pending.some((item) => item.status === "uploading");
}

/** Empty the tray after a send (failed uploads are dropped with it). */
export function clearTray() {
  pending = [];
  render();
}

function contentUrl(id) {
  return `/api/files/${encodeURIComponent(id)}/content`;
}

/** A sent message's files: images (click to enlarge) and document chips (click for their text). */
export function messageFiles(attachments) {
  if (!attachments || !attachments.length) return null;
  return el(
    "div",
    { class: "message-files" },
    attachments.map((file) => {
      if (file.kind === "image") {
        const button = el("button", { class: "message-image", type: "button", "aria-label": t("enlarge_image", { name: file.name }), title: file.name }, el("img", { src: contentUrl(file.id), alt: file.name, loading: "lazy", width: file.width || null, height: file.height || null }));
        button.addEventListener("click", () => openImage(file));
        return button;
      }
      const button = el("button", { class: "file-chip", type: "button", title: t("open_document", { name: file.name }) }, icon("file", 16), el("span", { class: "file-chip-name", text: file.name }), el("span", { class: "file-chip-size", text: formatBytes(file.size || 0) }));
      button.addEventListener("click", () => openDocument(file.id, file.name));
      return button;
    }),
  );
}

function openImage(file) {
  dialogTitle.textContent = file.name;
  const image = el("img", { class: "file-dialog-image", src: contentUrl(file.id), alt: file.name });
  image.addEventListener("error", () => dialogBody.replaceChildren(el("p", { class: "muted", text: t("file_unavailable") })));
  dialogBody.replaceChildren(image);
  dialog.showModal();
}

/** Show a document's extracted text (also where a citation of an attachment leads). */
export async function openDocument(id, name) {
  dialogTitle.textContent = name;
  dialogBody.replaceChildren(el("p", { class: "muted", text: t("loading") }));
  dialog.showModal();
  try {
    const data = await get(`/api/files/${encodeURIComponent(id)}/text`);
    dialogBody.replaceChildren(el("pre", { class: "file-text", text: data.text }));
  } catch (error) {
    dialogBody.replaceChildren(el("p", { class: "attach-error", role: "alert", text: error.status === 404 ? t("file_unavailable") : error.message }));
  }
}
