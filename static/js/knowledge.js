// Knowledge: upload documents (drag and drop, several at once, progress per file), list
// them with status and chunk count, delete, and search ranked chunks.

import { del, get, post, upload } from "./api.js";
import { t } from "./i18n.js";
import { el, fillSelect, formatBytes, showError, toast } from "./ui.js";

const dropzone = document.getElementById("dropzone");
const fileInput = document.getElementById("file-input");
const uploads = document.getElementById("uploads");
const rows = document.getElementById("document-rows");
const uploadAgent = document.getElementById("upload-agent");
const searchForm = document.getElementById("search-form");
const searchAgent = document.getElementById("search-agent");
const results = document.getElementById("search-results");

let agents = [];
let documents = [];
let pollTimer = 0;
// Upload rows whose document is still being indexed: document id -> {row, status}.
const pendingUploads = new Map();
// The document a citation links to (?document=<id>), shown even beyond the first page.
const linkedId = Number(new URLSearchParams(location.search).get("document")) || null;
let linkedDocument = null;

const STATUS = { processing: "badge badge-warning", ready: "badge badge-success", error: "badge badge-danger" };

function statusBadge(document) {
  const badge = el("span", { class: STATUS[document.status] || "badge", text: t(`status_${document.status}`) });
  if (document.status === "error" && document.error_message) badge.title = document.error_message;
  return badge;
}

function agentName(id) {
  const agent = agents.find((a) => a.id === id);
  return agent ? agent.name : "—";
}

function renderDocuments() {
  if (!documents.length) {
    rows.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted", style: { textAlign: "center", padding: "28px" }, text: t("no_documents") })));
    return;
  }
  const shown = linkedDocument && !documents.some((d) => d.id === linkedDocument.id) ? [linkedDocument, ...documents] : documents;
  rows.replaceChildren(
    ...shown.flatMap((document) => [
      el(
        "tr",
        { id: `doc-${document.id}`, dataset: { documentId: document.id, status: document.status }, class: document.id === linkedId ? "highlight" : null },
        el("td", { class: "name-cell", title: document.name, text: document.name }),
        el("td", {}, statusBadge(document), document.status === "error" && document.error_message ? el("div", { class: "muted", style: { fontSize: "12px" }, text: document.error_message }) : null),
        el("td", { class: "chunk-count", text: String(document.chunk_count ?? 0) }),
        el("td", { text: document.agent_id ? agentName(document.agent_id) : "—" }),
        el("td", { class: "muted", text: formatBytes(document.size || 0) }),
        el("td", { style: { textAlign: "right" } }, el("button", { class: "btn btn-danger btn-small", type: "button", text: t("delete"), "aria-label": `${t("delete")}: ${document.name}`, onclick: () => removeDocument(document) })),
      ),
      document.id === linkedId ? citedPassageRow(document) : null,
    ]).filter(Boolean),
  );
}

/** The passage a chat cited from this document (remembered by the chat page on click). */
function citedPassageRow(document) {
  let citation = null;
  try {
    citation = JSON.parse(sessionStorage.getItem("luxx.citation") || "null");
  } catch {
    citation = null;
  }
  if (!citation || citation.document_id !== document.id || !citation.snippet) return null;
  const where = [citation.page ? t("page_n", { n: citation.page }) : "", citation.heading || ""].filter(Boolean).join(" · ");
  return el(
    "tr",
    { class: "cited-row" },
    el(
      "td",
      { colspan: 6 },
      el("div", { class: "cited-passage", id: `doc-${document.id}-passage` }, el("div", { class: "cited-passage-head" }, el("strong", { text: t("cited_passage") }), where ? el("span", { class: "badge", text: where }) : null), el("div", { class: "cited-passage-text", text: citation.snippet })),
    ),
  );
}

async function showLinkedDocument() {
  if (!linkedId) return;
  linkedDocument = documents.find((d) => d.id === linkedId) || null;
  if (!linkedDocument) {
    try {
      linkedDocument = await get(`/api/knowledge/documents/${linkedId}`);
    } catch (error) {
      toast(t("document_not_found"), { error: true });
      return;
    }
  }
  renderDocuments();
  const row = document.getElementById(`doc-${linkedId}`);
  if (row) row.scrollIntoView({ block: "center" });
}

async function loadDocuments() {
  try {
    const data = await get("/api/knowledge/documents/?page_size=100");
    documents = data.items || [];
    if (linkedDocument) linkedDocument = documents.find((d) => d.id === linkedDocument.id) || (await refreshed(linkedDocument));
    renderDocuments();
  } catch (error) {
    rows.replaceChildren(el("tr", {}, el("td", { colspan: 6 }, el("div", { class: "alert alert-error", text: error.message }))));
  }
  await updatePendingUploads();
  clearTimeout(pollTimer);
  const processing = documents.some((d) => d.status === "processing") || (linkedDocument && linkedDocument.status === "processing") || pendingUploads.size > 0;
  if (processing) pollTimer = setTimeout(loadDocuments, 1500);
}

async function refreshed(document) {
  try {
    return await get(`/api/knowledge/documents/${document.id}`);
  } catch {
    return null; // deleted meanwhile
  }
}

function setUploadStatus(row, status, document) {
  status.className = `upload-status ${STATUS[document.status] || "badge"}`;
  status.textContent = document.status === "ready" ? `${t("status_ready")} · ${t("chunks_n", { n: document.chunk_count })}` : t(`status_${document.status}`);
  status.title = document.status === "error" ? document.error_message || "" : "";
  row.dataset.status = document.status;
}

/** Move each upload row still "processing" on to its document's current status. */
async function updatePendingUploads() {
  for (const [id, { row, status }] of pendingUploads) {
    const current = documents.find((d) => d.id === id) || (await refreshed({ id }));
    if (!current) {
      pendingUploads.delete(id);
      continue;
    }
    setUploadStatus(row, status, current);
    if (current.status !== "processing") pendingUploads.delete(id);
  }
}

async function removeDocument(document) {
  if (!window.confirm(t("confirm_delete_document"))) return;
  try {
    await del(`/api/knowledge/documents/${document.id}`);
    documents = documents.filter((d) => d.id !== document.id);
    if (linkedDocument && linkedDocument.id === document.id) linkedDocument = null;
    renderDocuments();
  } catch (error) {
    showError(error);
  }
}

async function uploadFile(file) {
  const progress = el("progress", { max: 1, value: 0, "aria-label": file.name });
  const status = el("span", { class: "upload-status badge", text: t("uploading") });
  const row = el("div", { class: "upload-row", dataset: { file: file.name } }, el("span", { class: "upload-name", title: file.name, text: file.name }), progress, status);
  uploads.prepend(row);
  const form = new FormData();
  form.append("file", file);
  if (uploadAgent.value) form.append("agent_id", uploadAgent.value);
  try {
    const document = await upload("/api/knowledge/documents/", form, { onProgress: (fraction) => (progress.value = fraction) });
    progress.value = 1;
    setUploadStatus(row, status, document);
    if (document.status === "processing") pendingUploads.set(document.id, { row, status });
  } catch (error) {
    status.className = "upload-status badge badge-danger";
    status.textContent = error.message;
    status.title = error.message;
    row.dataset.status = "error";
  }
}

async function uploadAll(files) {
  await Promise.all([...files].map(uploadFile));
  await loadDocuments();
}

dropzone.addEventListener("dragover", (event) => {
  event.preventDefault();
  dropzone.classList.add("dragover");
});
dropzone.addEventListener("dragleave", () => dropzone.classList.remove("dragover"));
dropzone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropzone.classList.remove("dragover");
  if (event.dataTransfer && event.dataTransfer.files.length) uploadAll(event.dataTransfer.files);
});
dropzone.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    fileInput.click();
  }
});
dropzone.tabIndex = 0;
dropzone.setAttribute("role", "button");
fileInput.addEventListener("change", () => {
  if (fileInput.files.length) uploadAll(fileInput.files);
  fileInput.value = "";
});

searchForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const query = document.getElementById("search-query").value.trim();
  if (!query) return;
  const body = { query, top_k: Number(document.getElementById("search-top-k").value) || 5 };
  if (searchAgent.value) body.agent_id = Number(searchAgent.value);
  try {
    const data = await post("/api/knowledge/search", body);
    const found = data.results || [];
    results.replaceChildren(
      ...(found.length
        ? found.map((result, index) =>
            el(
              "article",
              { class: "result", dataset: { documentId: result.document_id, chunk: result.chunk_index } },
              el(
                "div",
                { class: "result-head" },
                el("span", { class: "result-rank", text: `#${index + 1}` }),
                el("span", { class: "result-doc", text: result.document_name }),
                result.page ? el("span", { class: "badge", text: t("page_n", { n: result.page }) }) : null,
                result.heading ? el("span", { class: "badge badge-info result-heading", text: result.heading }) : null,
                el("span", { class: "muted", text: t("score", { n: Number(result.score).toFixed(3) }) }),
              ),
              el("div", { class: "result-content", text: result.content }),
            ),
          )
        : [el("p", { class: "empty", text: t("no_results") })]),
    );
  } catch (error) {
    results.replaceChildren(el("div", { class: "alert alert-error", role: "alert", text: error.message }));
  }
});

async function init() {
  try {
    agents = (await get("/api/agents/")) || [];
  } catch (error) {
    showError(error);
  }
  fillSelect(uploadAgent, [{ value: "", label: t("no_agent") }, ...agents.map((a) => ({ value: a.id, label: a.name }))], "");
  fillSelect(searchAgent, [{ value: "", label: t("all_documents") }, ...agents.map((a) => ({ value: a.id, label: a.name }))], "");
  await loadDocuments();
  await showLinkedDocument();
  document.getElementById("knowledge").dataset.ready = "true";
}

init();
