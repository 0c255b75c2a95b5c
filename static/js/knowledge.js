// Knowledge: upload documents (drag and drop, several at once, progress per file), list
// them with status and chunk count, open a document's chunks, delete, and search ranked
// chunks. A citation (?document=<id>&chunk=<index>) opens its document's chunks at the
// cited one.

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
const params = new URLSearchParams(location.search);
const linkedId = Number(params.get("document")) || null;
let linkedDocument = null;
// Open chunk views, by document id; each keeps its own table row, so that re-rendering the
// list (polling while documents are indexed) keeps what was loaded and where it was scrolled.
const chunkViews = new Map();
const CHUNK_PAGE_SIZE = 50;

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
    chunkViews.clear();
    rows.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted", style: { textAlign: "center", padding: "28px" }, text: t("no_documents") })));
    return;
  }
  const shown = linkedDocument && !documents.some((d) => d.id === linkedDocument.id) ? [linkedDocument, ...documents] : documents;
  for (const id of chunkViews.keys()) if (!shown.some((d) => d.id === id)) chunkViews.delete(id);
  keepingFocus(() =>
    rows.replaceChildren(
      ...shown.flatMap((doc) => {
        const view = chunkViews.get(doc.id);
        if (view) refreshChunkView(view, doc);
        return [documentRow(doc), view ? view.row : null].filter(Boolean);
      }),
    ),
  );
}

function documentRow(doc) {
  const expanded = chunkViews.has(doc.id);
  const toggle = el("button", {
    class: "doc-toggle",
    type: "button",
    text: doc.name,
    title: t(expanded ? "hide_chunks" : "show_chunks"),
    "aria-expanded": String(expanded),
    "aria-controls": `doc-${doc.id}-chunks`,
    dataset: { focusKey: `toggle-${doc.id}` },
  });
  toggle.addEventListener("click", () => toggleChunks(doc, toggle));
  return el(
    "tr",
    { id: `doc-${doc.id}`, dataset: { documentId: doc.id, status: doc.status }, class: doc.id === linkedId ? "highlight" : null },
    // data-label names a cell where a phone shows the rows as cards, without the header.
    el("td", { class: "name-cell", title: doc.name }, toggle),
    el("td", { class: "status-cell" }, statusBadge(doc), doc.status === "error" && doc.error_message ? el("div", { class: "muted", style: { fontSize: "12px" }, text: doc.error_message }) : null),
    el("td", { class: "chunk-count", dataset: { label: t("chunks") }, text: String(doc.chunk_count ?? 0) }),
    el("td", { class: "agent-cell", dataset: { label: t("agent_label") }, text: doc.agent_id ? agentName(doc.agent_id) : "—" }),
    el("td", { class: "muted size-cell", text: formatBytes(doc.size || 0) }),
    el("td", { class: "actions-cell" }, el("button", { class: "btn btn-danger btn-small", type: "button", text: t("delete"), "aria-label": `${t("delete")}: ${doc.name}`, dataset: { focusKey: `delete-${doc.id}` }, onclick: () => removeDocument(doc) })),
  );
}

/** Re-render the rows without losing the keyboard focus: an element that is moved (an
 * open chunk view) gets it back, a rebuilt one (a row's buttons) is found by its key. */
function keepingFocus(render) {
  const active = document.activeElement;
  const key = active && active.dataset ? active.dataset.focusKey : null;
  render();
  if (!active || active === document.body || document.activeElement === active) return;
  if (active.isConnected) active.focus({ preventScroll: true });
  else if (key) rows.querySelector(`[data-focus-key="${CSS.escape(key)}"]`)?.focus({ preventScroll: true });
}

// --- a document's chunks -------------------------------------------------------------------

function toggleChunks(doc, toggle) {
  const open = chunkViews.get(doc.id);
  if (open) {
    chunkViews.delete(doc.id);
    open.row.remove();
  } else {
    const view = chunkView(doc);
    chunkViews.set(doc.id, view);
    toggle.closest("tr").after(view.row);
    loadChunks(view);
  }
  toggle.setAttribute("aria-expanded", String(!open));
  toggle.title = t(open ? "show_chunks" : "hide_chunks");
}

/** An open chunk view: its row, what it has loaded, and the chunk it should reveal. */
function chunkView(doc, target = null) {
  const list = el("ol", { class: "chunk-list", tabindex: "0", "aria-label": t("chunks_of", { name: doc.name }) });
  const summary = el("span", { class: "muted chunks-summary", "aria-live": "polite" });
  const foot = el("div", { class: "chunks-foot" });
  const panel = el("section", { class: "chunks-panel", id: `doc-${doc.id}-chunks`, "aria-label": t("chunks_of", { name: doc.name }) }, el("div", { class: "chunks-head" }, el("strong", { text: t("chunks") }), summary), list, foot);
  const row = el("tr", { class: "chunks-row", id: `doc-${doc.id}-chunks-row` }, el("td", { colspan: 6 }, panel));
  return { id: doc.id, status: doc.status, row, panel, list, summary, foot, items: [], total: null, pending: null, error: null, target };
}

/** A view opened while its document was still being indexed starts over once it is ready. */
function refreshChunkView(view, doc) {
  if (view.status === "processing" && doc.status !== "processing" && !view.pending) {
    view.items = [];
    view.total = null;
    view.list.replaceChildren();
    loadChunks(view);
  }
  view.status = doc.status;
}

/** Load the next page of a view's chunks (one request at a time). */
function loadChunks(view) {
  if (view.pending) return view.pending;
  view.error = null;
  view.pending = (async () => {
    renderChunkFoot(view);
    const page = Math.floor(view.items.length / CHUNK_PAGE_SIZE) + 1;
    try {
      const data = await get(`/api/knowledge/documents/${view.id}/chunks?page=${page}&page_size=${CHUNK_PAGE_SIZE}`);
      const fresh = data.items || [];
      view.items.push(...fresh);
      // Fewer than promised (the document changed meanwhile): what we have is all there is.
      view.total = fresh.length ? data.total : view.items.length;
      view.list.append(...fresh.map((chunk) => chunkItem(view, chunk)));
      return fresh;
    } catch (error) {
      view.error = error.message;
      return [];
    } finally {
      view.pending = null;
      renderChunkFoot(view);
    }
  })();
  return view.pending;
}

function chunkItem(view, chunk) {
  return el(
    "li",
    { class: "chunk", id: `doc-${view.id}-chunk-${chunk.index}`, tabindex: "-1", dataset: { chunkIndex: chunk.index } },
    el(
      "div",
      { class: "chunk-head" },
      el("span", { class: "chunk-index", text: `#${chunk.index + 1}` }),
      chunk.heading ? el("span", { class: "badge badge-info chunk-heading", text: chunk.heading }) : null,
      chunk.page ? el("span", { class: "badge chunk-page", text: t("page_n", { n: chunk.page }) }) : null,
      chunk.token_estimate ? el("span", { class: "muted chunk-tokens", text: t("about_tokens", { n: chunk.token_estimate }) }) : null,
    ),
    el("div", { class: "chunk-text", text: chunk.content }),
  );
}

function hasMoreChunks(view) {
  return view.total === null || view.items.length < view.total;
}

function renderChunkFoot(view) {
  view.panel.setAttribute("aria-busy", String(Boolean(view.pending)));
  view.summary.textContent = view.total ? t("chunks_shown", { shown: view.items.length, total: view.total }) : "";
  if (view.pending) {
    view.foot.replaceChildren(el("span", { class: "muted", role: "status", text: t("loading_chunks") }));
  } else if (view.error) {
    view.foot.replaceChildren(el("div", { class: "alert alert-error", role: "alert", text: view.error }), el("button", { class: "btn btn-secondary btn-small", type: "button", text: t("retry"), onclick: () => loadChunks(view) }));
  } else if (!view.items.length) {
    view.foot.replaceChildren(el("span", { class: "muted", text: t("no_chunks") }));
  } else if (hasMoreChunks(view)) {
    view.foot.replaceChildren(el("button", { class: "btn btn-secondary btn-small chunks-more", type: "button", text: t("load_more"), onclick: () => showMoreChunks(view) }));
  } else {
    view.foot.replaceChildren();
  }
}

/** "Show more": the next page, and the keyboard focus on its first chunk. */
async function showMoreChunks(view) {
  const hadFocus = view.foot.contains(document.activeElement);
  const fresh = await loadChunks(view);
  if (hadFocus && fresh.length) document.getElementById(`doc-${view.id}-chunk-${fresh[0].index}`)?.focus();
}

/** The chunk a citation points to: by its index, or (an older citation) by its snippet. */
function isTarget(target, chunk) {
  if (Number.isInteger(target.index)) return chunk.index === target.index;
  return Boolean(target.snippet) && chunk.content.startsWith(target.snippet);
}

/** Load pages until the view's target chunk is there, then highlight it and scroll to it. */
async function revealTarget(view) {
  const { target } = view;
  if (!target) return;
  let found = view.items.find((chunk) => isTarget(target, chunk));
  while (!found && hasMoreChunks(view) && chunkViews.get(view.id) === view) {
    const fresh = await loadChunks(view);
    if (!fresh.length) break;
    found = fresh.find((chunk) => isTarget(target, chunk));
  }
  if (!found) return;
  const node = document.getElementById(`doc-${view.id}-chunk-${found.index}`);
  if (!node) return;
  node.classList.add("chunk-cited", "highlight");
  node.querySelector(".chunk-head").append(el("span", { class: "badge badge-warning chunk-cited-label", text: t("cited_passage") }));
  // The document's row at the top, the cited chunk at the top of the list's own scroll.
  view.row.previousElementSibling?.scrollIntoView({ block: "start" });
  view.list.scrollTop += node.getBoundingClientRect().top - view.list.getBoundingClientRect().top;
  node.scrollIntoView({ block: "nearest" });
}

/** What a citation names: the document from ?document=, the chunk from ?chunk= or else
 * from the citation the chat page remembered on click. */
function citationTarget() {
  const chunk = params.get("chunk");
  if (chunk !== null && /^\d+$/.test(chunk)) return { index: Number(chunk) };
  let citation = null;
  try {
    citation = JSON.parse(sessionStorage.getItem("luxx.citation") || "null");
  } catch {
    citation = null;
  }
  if (!citation || citation.document_id !== linkedId) return null;
  return { index: Number.isInteger(citation.chunk_index) ? citation.chunk_index : null, snippet: citation.snippet || "" };
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
  const view = chunkViews.get(linkedId) || chunkView(linkedDocument);
  view.target = citationTarget();
  chunkViews.set(linkedId, view);
  renderDocuments();
  const row = document.getElementById(`doc-${linkedId}`);
  if (row) row.scrollIntoView({ block: "center" });
  if (!view.items.length) await loadChunks(view);
  await revealTarget(view);
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
    chunkViews.delete(document.id);
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

// --- search ------------------------------------------------------------------------------

// Words that carry no topic (the server's own list, rendered into the page): the search
// ignores them, so they are not highlighted either.
const stopwordsNode = document.getElementById("luxx-stopwords");
const STOPWORDS = new Set(stopwordsNode ? JSON.parse(stopwordsNode.textContent) : []);
const CJK = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/u;
let searchTicket = 0;

/** The query's words as the search uses them: segmented (Chinese too), lower-case,
 * without stopwords unless nothing else is left. */
function queryTerms(query) {
  let words;
  if (typeof Intl !== "undefined" && Intl.Segmenter) {
    const segmenter = new Intl.Segmenter("zh", { granularity: "word" });
    words = [...segmenter.segment(query)].filter((part) => part.isWordLike).map((part) => part.segment);
  } else words = query.split(/[^\p{L}\p{N}]+/u);
  words = words.map((word) => word.toLowerCase()).filter(Boolean);
  const content = words.filter((word) => !STOPWORDS.has(word));
  return [...new Set(content.length ? content : words)];
}

/** A pattern that finds the terms in a text: Chinese as written; other words at a word's
 * start with any ending ("panel" finds "panels", "cleaning" finds "cleaned"). */
function termsPattern(terms) {
  const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const parts = terms.map((term) => {
    if (CJK.test(term)) return escape(term);
    const stem = term.length > 4 ? term.replace(/(ing|ed|es|s|ly)$/u, "") : term;
    return `(?<![\\p{L}\\p{N}])${escape(stem)}[\\p{L}\\p{N}]*`;
  });
  parts.sort((a, b) => b.length - a.length);
  return parts.length ? new RegExp(parts.join("|"), "giu") : null;
}

/** The text with the matched words in <mark>, built as text nodes (never as HTML). */
function highlighted(text, pattern) {
  const node = el("div", { class: "result-content" });
  let last = 0;
  if (pattern) {
    for (const match of text.matchAll(pattern)) {
      if (!match[0]) continue;
      node.append(text.slice(last, match.index), el("mark", { text: match[0] }));
      last = match.index + match[0].length;
    }
  }
  node.append(text.slice(last));
  return node;
}

function resultCard(result, index, pattern) {
  return el(
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
    highlighted(result.content, pattern),
  );
}

searchForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const query = document.getElementById("search-query").value.trim();
  if (!query) return;
  const body = { query, top_k: Number(document.getElementById("search-top-k").value) || 5 };
  if (searchAgent.value) body.agent_id = Number(searchAgent.value);
  // The previous results go at once: what is shown is always the answer to this query.
  const ticket = ++searchTicket;
  results.setAttribute("aria-busy", "true");
  results.replaceChildren(el("p", { class: "muted searching", role: "status", text: t("searching") }));
  try {
    const data = await post("/api/knowledge/search", body);
    if (ticket !== searchTicket) return; // a newer search was sent meanwhile
    const found = data.results || [];
    const pattern = termsPattern(queryTerms(query));
    results.replaceChildren(...(found.length ? found.map((result, index) => resultCard(result, index, pattern)) : [el("p", { class: "empty", text: t("no_results") })]));
  } catch (error) {
    if (ticket !== searchTicket) return;
    results.replaceChildren(el("div", { class: "alert alert-error", role: "alert", text: error.message }));
  } finally {
    if (ticket === searchTicket) results.setAttribute("aria-busy", "false");
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
