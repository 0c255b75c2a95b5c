// The chat page: conversations in the sidebar, a reply streaming live from
// POST /api/messages/stream (process steps: thinking, text, tool calls and results).

import { ApiError, del, get, post, put, request } from "./api.js";
import { clearTray, initAttachments, messageFiles, openDocument, readyFiles, uploading } from "./attachments.js";
import { t } from "./i18n.js";
import { renderMarkdown } from "./markdown.js";
import { readEvents } from "./sse.js";
import { toolOptions, toolUsable } from "./tools.js";
import { contrastText, el, fillSelect, icon, safeColor, showError, toast } from "./ui.js";

const root = document.getElementById("chat");
const listNode = document.getElementById("conv-list");
const searchInput = document.getElementById("conv-search");
const messagesNode = document.getElementById("messages");
const emptyNode = document.getElementById("empty-chat");
const titleNode = document.getElementById("chat-title");
const usageNode = document.getElementById("chat-usage");
const agentNode = document.getElementById("chat-agent");
const composer = document.getElementById("composer");
const input = document.getElementById("composer-input");
const sendButton = document.getElementById("send-button");
const modelPicker = document.getElementById("model-picker");
const modelInput = document.getElementById("model-input");
const modelOptions = document.getElementById("model-options");
const thinkingToggle = document.getElementById("thinking-toggle");
const toolsButton = document.getElementById("tools-button");
const toolsPanel = document.getElementById("tools-panel");
const toolsCount = document.getElementById("tools-count");
const banner = document.getElementById("provider-banner");
const sidebar = document.getElementById("conv-sidebar");
const scrim = document.getElementById("sidebar-scrim");
const sidebarToggle = document.getElementById("toggle-sidebar");
const menuButton = document.getElementById("conv-menu-button");
const menuNode = document.getElementById("conv-menu");
const exportJson = document.getElementById("export-json");
const exportMarkdown = document.getElementById("export-markdown");
const importButton = document.getElementById("import-button");
const importFile = document.getElementById("import-file");

const PAGE_SIZE = 50;

const state = {
  conversations: [], // the loaded pages of the sidebar (the server filters by title)
  list: { page: 0, total: 0, loading: false, request: 0 },
  current: null, // the open conversation object, or null for a new chat
  providers: [],
  agents: [],
  tools: [],
  enabledTools: new Set(), // the tools of the open conversation (or of the new chat)
  lastTools: null, // the user's last choice of tools (a new chat starts with it), null: none yet
  streaming: null, // {controller, conversationId, stopRequested}
};

/** The thinking switch of a new chat: the user's last choice. */
function preferredThinking() {
  return localStorage.getItem("luxx.thinking") === "1";
}

thinkingToggle.checked = preferredThinking();

// --- sidebar ---------------------------------------------------------------------------

function dayStart(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

function groupOf(isoDate) {
  const today = dayStart(new Date());
  const day = dayStart(new Date(isoDate));
  const diff = Math.round((today - day) / 86400000);
  if (diff <= 0) return "today";
  if (diff === 1) return "yesterday";
  if (diff < 7) return "previous_7_days";
  return "older";
}

function renderSidebar() {
  const query = searchInput.value.trim().toLowerCase();
  const items = state.conversations.filter((c) => !query || (c.title || t("untitled")).toLowerCase().includes(query));
  if (!items.length) {
    listNode.replaceChildren(el("p", { class: "conv-empty", text: query ? t("no_matches") : t("no_conversations") }));
    return;
  }
  const groups = new Map();
  for (const conversation of items) {
    const key = groupOf(conversation.updated_at);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(conversation);
  }
  const nodes = [];
  for (const key of ["today", "yesterday", "previous_7_days", "older"]) {
    if (!groups.has(key)) continue;
    const titleId = `group-${key}`;
    nodes.push(el("h2", { class: "conv-group-title", id: titleId, text: t(key) }));
    nodes.push(el("ul", { class: "conv-group", role: "list", "aria-labelledby": titleId, style: { listStyle: "none", margin: 0, padding: 0 } }, groups.get(key).map(sidebarItem)));
  }
  if (hasMoreConversations()) {
    const more = el("button", { class: "btn btn-ghost btn-small btn-block conv-more", type: "button", id: "conv-more", text: t("load_more") });
    more.addEventListener("click", () => loadConversations({ more: true }));
    nodes.push(more);
    moreObserver.disconnect();
    moreObserver.observe(more);
  }
  listNode.replaceChildren(...nodes);
}

function hasMoreConversations() {
  return state.list.page * PAGE_SIZE < state.list.total;
}

// Scrolling the list down to the "more" button loads the next page.
const moreObserver = new IntersectionObserver(
  (entries) => {
    if (entries.some((entry) => entry.isIntersecting) && !state.list.loading && hasMoreConversations()) loadConversations({ more: true });
  },
  { root: listNode, rootMargin: "120px" },
);

function sidebarItem(conversation) {
  const title = conversation.title || t("untitled");
  const active = state.current && state.current.id === conversation.id;
  const link = el("a", { href: `/c/${conversation.id}`, title, "aria-current": active ? "page" : null, text: title });
  link.addEventListener("click", (event) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    openConversation(conversation.id, { push: true });
  });
  const item = el("li", { class: active ? "conv-item active" : "conv-item", dataset: { id: conversation.id } }, link);
  const renameButton = el("button", { class: "icon-btn", type: "button", "aria-label": `${t("rename")}: ${title}`, title: t("rename") }, icon("edit", 15));
  const deleteButton = el("button", { class: "icon-btn", type: "button", "aria-label": `${t("delete")}: ${title}`, title: t("delete") }, icon("trash", 15));
  renameButton.addEventListener("click", () => startRename(item, conversation));
  deleteButton.addEventListener("click", () => deleteConversation(conversation));
  item.append(el("div", { class: "conv-actions" }, renameButton, deleteButton));
  return item;
}

function startRename(item, conversation) {
  const field = el("input", { class: "input conv-rename", value: conversation.title || "", "aria-label": t("rename"), maxlength: 200 });
  item.replaceChildren(field);
  field.focus();
  field.select();
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const title = field.value.trim();
    if (save && title && title !== conversation.title) {
      try {
        const updated = await put(`/api/conversations/${conversation.id}`, { title });
        Object.assign(conversation, updated);
        if (state.current && state.current.id === conversation.id) setTitle(updated.title);
      } catch (error) {
        showError(error);
      }
    }
    renderSidebar();
  };
  field.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      finish(true);
    } else if (event.key === "Escape") {
      event.preventDefault();
      finish(false);
    }
  });
  field.addEventListener("blur", () => finish(true));
}

async function deleteConversation(conversation) {
  if (!window.confirm(t("confirm_delete_conversation"))) return;
  try {
    await del(`/api/conversations/${conversation.id}`);
    state.conversations = state.conversations.filter((c) => c.id !== conversation.id);
    if (state.current && state.current.id === conversation.id) newChat({ push: true });
    renderSidebar();
  } catch (error) {
    showError(error);
  }
}

/** Load the first page of conversations (matching the search box), or the next page. */
async function loadConversations({ more = false } = {}) {
  const page = more ? state.list.page + 1 : 1;
  const params = new URLSearchParams({ page: String(page), page_size: String(PAGE_SIZE) });
  const query = searchInput.value.trim();
  if (query) params.set("search", query);
  const ticket = ++state.list.request;
  state.list.loading = true;
  try {
    const data = await get(`/api/conversations/?${params}`);
    if (ticket !== state.list.request) return; // a newer search has been sent since
    const items = data.items || [];
    if (more) {
      const known = new Set(state.conversations.map((c) => c.id));
      state.conversations.push(...items.filter((c) => !known.has(c.id)));
    } else state.conversations = items;
    state.list.page = page;
    state.list.total = data.total || 0;
    renderSidebar();
  } catch (error) {
    showError(error);
  } finally {
    if (ticket === state.list.request) state.list.loading = false;
  }
}

let searchTimer = 0;
function onSearchInput() {
  renderSidebar(); // the loaded titles at once, then the server's answer
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => loadConversations(), 250);
}

function setSidebarOpen(open) {
  sidebar.classList.toggle("open", open);
  scrim.hidden = !open;
  sidebarToggle.setAttribute("aria-expanded", String(open));
}

// --- model, thinking, tools ------------------------------------------------------------

// The provider is picked from a list; the model is typed or picked from the models
// known for that provider (its default, its agents', its conversations').

function providerById(id) {
  return state.providers.find((p) => p.id === Number(id));
}

function knownModels(providerId) {
  const provider = providerById(providerId);
  const models = new Set();
  if (provider && provider.default_model) models.add(provider.default_model);
  for (const agent of state.agents) if (agent.provider_id === Number(providerId) && agent.model) models.add(agent.model);
  for (const conversation of state.conversations) if (conversation.provider_id === Number(providerId) && conversation.model) models.add(conversation.model);
  return [...models];
}

function fillModelOptions() {
  modelOptions.replaceChildren(...knownModels(modelPicker.value).map((model) => el("option", { value: model })));
}

function storedChoice() {
  const [providerId, ...rest] = (localStorage.getItem("luxx.model") || "").split("|");
  return { provider_id: Number(providerId) || null, model: rest.join("|") };
}

function renderPicker() {
  const enabled = state.providers.filter((p) => p.enabled);
  const current = state.current;
  const options = enabled.map((p) => ({ value: p.id, label: p.name }));
  if (current && current.provider_id && !options.some((o) => o.value === current.provider_id)) {
    const provider = providerById(current.provider_id);
    options.push({ value: current.provider_id, label: provider ? provider.name : `#${current.provider_id}` });
  }
  const fallback = state.providers.find((p) => p.is_default && p.enabled) || enabled[0];
  const stored = storedChoice();
  let choice = { provider_id: fallback ? fallback.id : null, model: fallback ? fallback.default_model : "" };
  if (current && current.provider_id) choice = { provider_id: current.provider_id, model: current.model };
  else if (stored.provider_id && options.some((o) => o.value === stored.provider_id)) choice = stored;
  fillSelect(modelPicker, options, choice.provider_id);
  modelInput.value = choice.model || (providerById(modelPicker.value) || {}).default_model || "";
  modelPicker.disabled = modelInput.disabled = !options.length;
  fillModelOptions();
  if (!options.length) {
    banner.replaceChildren(t("no_provider"), " ", el("a", { href: "/settings/", text: t("open_settings") }));
    banner.hidden = false;
  } else banner.hidden = true;
}

function selectedModel() {
  const providerId = Number(modelPicker.value);
  if (!providerId) return {};
  const model = modelInput.value.trim() || (providerById(providerId) || {}).default_model || "";
  return model ? { provider_id: providerId, model } : { provider_id: providerId };
}

async function saveModelChoice() {
  const chosen = selectedModel();
  if (!chosen.provider_id) return;
  localStorage.setItem("luxx.model", `${chosen.provider_id}|${chosen.model || ""}`);
  if (state.current && !state.streaming && (chosen.provider_id !== state.current.provider_id || (chosen.model && chosen.model !== state.current.model))) {
    try {
      state.current = await put(`/api/conversations/${state.current.id}`, chosen);
    } catch (error) {
      showError(error);
    }
  }
}

async function loadAgents() {
  try {
    state.agents = (await get("/api/agents/")) || [];
  } catch {
    state.agents = []; // only suggestions for the model field
  }
}

async function loadProviders() {
  try {
    const data = await get("/api/providers/");
    state.providers = data.providers || [];
  } catch (error) {
    state.providers = [];
    showError(error);
  }
  renderPicker();
}

async function loadTools() {
  try {
    const data = await get("/api/tools/");
    state.tools = data.tools || [];
  } catch (error) {
    state.tools = [];
    showError(error);
  }
}

// The tools are remembered on the server: each conversation keeps its choice, a new chat
// starts with the user's last choice, an agent's chat with the agent's tools.

/** The tools a conversation uses (null: a new chat): its own choice, else its agent's. */
function toolsOf(conversation) {
  if (!conversation) return state.lastTools || [];
  if (conversation.enabled_tools) return conversation.enabled_tools;
  const agent = conversation.agent_id ? state.agents.find((a) => a.id === conversation.agent_id) : null;
  return (agent && agent.enabled_tools) || [];
}

/** Show the tools of `conversation` (leaving out those the user may no longer choose). */
function showToolsOf(conversation) {
  const usable = new Set(state.tools.filter((tool) => toolUsable(tool)).map((tool) => tool.name));
  state.enabledTools = new Set(toolsOf(conversation).filter((name) => usable.has(name)));
  renderTools();
}

async function chooseTool(name, checked) {
  if (checked) state.enabledTools.add(name);
  else state.enabledTools.delete(name);
  toolsCount.textContent = String(state.enabledTools.size);
  const chosen = [...state.enabledTools];
  state.lastTools = chosen;
  if (!state.current || state.streaming) return; // a new chat sends it when it is created
  const conversation = state.current;
  try {
    const updated = await put(`/api/conversations/${conversation.id}`, { enabled_tools: chosen });
    if (state.current && state.current.id === updated.id) state.current = updated;
  } catch (error) {
    showError(error);
  }
}

function renderTools() {
  toolsPanel.replaceChildren(...toolOptions(state.tools, state.enabledTools, { name: "tool", idPrefix: "tool", onChange: chooseTool }));
  toolsCount.textContent = String(state.enabledTools.size);
}

function setToolsOpen(open) {
  toolsPanel.hidden = !open;
  toolsButton.setAttribute("aria-expanded", String(open));
}

// --- messages ------------------------------------------------------------------------

/** The open conversation's tokens and cost, in the header (hidden while it has none). */
async function showUsage(id) {
  if (!id) {
    usageNode.hidden = true;
    return;
  }
  try {
    const data = await get(`/api/usage/?conversation_id=${encodeURIComponent(id)}`);
    if (!state.current || state.current.id !== id) return;
    const totals = data.totals;
    usageNode.textContent = t("conversation_usage", { tokens: totals.total_tokens.toLocaleString(), cost: `${totals.cost.toFixed(totals.cost && totals.cost < 0.01 ? 4 : 2)} ${data.currency}` });
    usageNode.hidden = totals.calls === 0;
  } catch {
    usageNode.hidden = true;
  }
}

function setTitle(title) {
  titleNode.textContent = title || t("new_chat");
  document.title = `${title || t("new_chat")} · Luxx`;
}

/** The agent the open chat was started from: its name and colour in the header, its
 * colour on the replies' avatars (none for a plain chat, or when the agent is gone). */
function renderAgent() {
  const agentId = state.current && state.current.agent_id;
  const agent = agentId ? state.agents.find((a) => a.id === agentId) : null;
  agentNode.hidden = !agent;
  if (!agent) {
    agentNode.replaceChildren();
    delete root.dataset.agentId;
    return;
  }
  const color = safeColor(agent.color);
  root.dataset.agentId = String(agent.id);
  root.style.setProperty("--agent-color", color);
  root.style.setProperty("--agent-text", contrastText(color));
  agentNode.title = agent.role ? `${agent.name} · ${agent.role}` : agent.name;
  agentNode.replaceChildren(
    el("span", { class: "visually-hidden", text: `${t("agent_label")}: ` }),
    el("span", { class: "swatch", style: { background: color, color: contrastText(color) }, "aria-hidden": "true", text: (agent.name || "?").slice(0, 1).toUpperCase() }),
    el("span", { class: "chat-agent-name", text: agent.name }),
  );
}

/** The composer's placeholder with its keyboard hint where it fits on one line, the
 * short one where it would be cut (a phone). */
const placeholders = { long: input.placeholder, short: input.dataset.placeholderShort || input.placeholder };
const measure = document.createElement("canvas").getContext("2d");
function fitPlaceholder() {
  const style = getComputedStyle(input);
  const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  measure.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  input.placeholder = room > 0 && measure.measureText(placeholders.long).width > room ? placeholders.short : placeholders.long;
}
new ResizeObserver(fitPlaceholder).observe(input);

function scrollToBottom(force = false) {
  const nearBottom = messagesNode.scrollHeight - messagesNode.scrollTop - messagesNode.clientHeight < 160;
  if (force || nearBottom) messagesNode.scrollTop = messagesNode.scrollHeight;
}

function userMessageNode(text, attachments = null) {
  const files = messageFiles(attachments);
  return el("div", { class: "message message-user", dataset: { role: "user" } }, files ? el("div", { class: "message-user-body" }, files, text ? el("div", { class: "bubble", text }) : null) : el("div", { class: "bubble", text }));
}

function prettyJson(value) {
  if (typeof value !== "string") return JSON.stringify(value, null, 2);
  try {
    return JSON.stringify(JSON.parse(value), null, 2);
  } catch {
    return value;
  }
}

/** The knowledge page, opened on the cited document's chunks at the cited chunk. */
function citationHref(citation) {
  if (citation.file_id) return `#file-${encodeURIComponent(citation.file_id)}`; // opens in place (a dialog)
  const id = encodeURIComponent(citation.document_id ?? "");
  const chunk = Number.isInteger(citation.chunk_index) ? `&chunk=${citation.chunk_index}` : "";
  return `/knowledge/?document=${id}${chunk}#doc-${id}`;
}

/** One assistant reply, built from its process steps (streamed or saved). */
class AssistantView {
  constructor({ live = false } = {}) {
    this.steps = new Map(); // id -> {type, content, node, body}
    this.cards = new Map(); // id_ref -> card
    this.stepsNode = el("div", { class: "steps" });
    this.extraNode = el("div", {});
    this.metaNode = el("div", { class: "message-meta" });
    this.node = el(
      "div",
      { class: live ? "message message-assistant live" : "message message-assistant", dataset: { role: "assistant" } },
      el("div", { class: "message-avatar", "aria-hidden": "true" }, icon("logo", 16)),
      el("div", { class: "message-body" }, this.stepsNode, this.extraNode, this.metaNode),
    );
    this.pending = new Set();
    this.frame = 0;
    if (live) this.stepsNode.classList.add("cursor");
  }

  /** The provider is being retried before the first token: say so until a step comes. */
  showRetrying({ attempt, max_attempts: maxAttempts, reason } = {}) {
    if (!this.retryNode) {
      this.retryNode = el("div", { class: "retrying", role: "status" });
      this.stepsNode.prepend(this.retryNode);
    }
    this.retryNode.textContent = t("retrying", { n: attempt ?? "?", max: maxAttempts ?? "?" });
    this.retryNode.title = reason || "";
  }

  clearRetrying() {
    if (this.retryNode) this.retryNode.remove();
    this.retryNode = null;
  }

  apply(piece) {
    this.clearRetrying();
    const known = this.steps.get(piece.id);
    if (piece.type === "thinking" || piece.type === "text") {
      if (known) known.content += piece.content || "";
      else this.addStep(piece);
      this.schedule(piece.id);
    } else if (!known) {
      this.addStep(piece);
    }
  }

  addStep(piece) {
    const step = { type: piece.type, content: piece.content || "" };
    this.steps.set(piece.id, step);
    if (piece.type === "thinking") {
      step.body = el("div", { class: "md" });
      step.node = el("details", { class: "step thinking", open: this.node.classList.contains("live"), dataset: { stepId: piece.id, type: "thinking" } }, el("summary", {}, el("span", { class: "thinking-label", text: t("thinking") })), step.body);
      this.stepsNode.append(step.node);
    } else if (piece.type === "text") {
      for (const other of this.steps.values()) if (other.type === "thinking" && other.node) other.node.open = false;
      step.body = el("div", { class: "md step", dataset: { stepId: piece.id, type: "text" } });
      step.node = step.body;
      this.stepsNode.append(step.node);
    } else if (piece.type === "tool_call") {
      step.node = this.toolCard(piece);
      this.stepsNode.append(step.node);
    } else if (piece.type === "tool_result") {
      const card = this.cards.get(piece.id_ref) || this.standaloneCard(piece);
      this.fillResult(card, piece);
    }
  }

  toolCard(piece) {
    const status = el("span", { class: "badge tool-card-status", text: t("running") });
    const result = el("div", { class: "tool-card-result" });
    const card = el(
      "details",
      { class: "step tool-card", dataset: { stepId: piece.id, type: "tool_call", tool: piece.name } },
      el("summary", {}, el("span", { class: "tool-card-icon", "aria-hidden": "true", text: "ƒ" }), el("span", { class: "visually-hidden", text: t("tool_call") }), el("span", { class: "tool-card-name", text: piece.name }), status),
      el("div", { class: "tool-card-body" }, el("div", { class: "tool-card-label", text: t("arguments") }), el("pre", { class: "tool-args", text: prettyJson(piece.arguments || "{}") }), result),
    );
    card.statusNode = status;
    card.resultNode = result;
    if (piece.id_ref) this.cards.set(piece.id_ref, card);
    return card;
  }

  standaloneCard(piece) {
    const card = this.toolCard({ id: piece.id, name: piece.name, arguments: "" });
    this.stepsNode.append(card);
    return card;
  }

  fillResult(card, piece) {
    const success = piece.success !== false;
    card.statusNode.className = success ? "badge badge-success tool-card-status" : "badge badge-danger tool-card-status";
    card.statusNode.textContent = success ? t("succeeded") : t("failed");
    card.classList.toggle("failed", !success);
    card.dataset.result = success ? "success" : "failure";
    card.resultNode.replaceChildren(el("div", { class: "tool-card-label", text: t("result") }), el("pre", { class: "tool-result", text: prettyJson(piece.content || "") }));
  }

  schedule(id) {
    this.pending.add(id);
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    for (const id of this.pending) {
      const step = this.steps.get(id);
      if (step && step.body) renderMarkdown(step.body, step.content, { highlight: !this.node.classList.contains("live") });
    }
    this.pending.clear();
    scrollToBottom();
  }

  loadSaved(message, { onRetry } = {}) {
    for (const step of message.process_steps || []) this.addStep(step);
    for (const step of this.steps.values()) if (step.body) renderMarkdown(step.body, step.content);
    if (!this.steps.size && message.content) {
      const body = el("div", { class: "md step" });
      renderMarkdown(body, message.content);
      this.stepsNode.append(body);
    }
    this.finish({ status: message.status, usage: message.usage, token_count: message.token_count, citations: message.citations, message_id: message.id, error: message.error, onRetry });
  }

  finish({ status, usage, token_count, citations, message_id, error, onRetry }) {
    this.clearRetrying();
    if (this.frame) cancelAnimationFrame(this.frame);
    this.node.classList.remove("live");
    this.stepsNode.classList.remove("cursor");
    for (const step of this.steps.values()) {
      if (step.body) renderMarkdown(step.body, step.content);
    }
    for (const card of this.cards.values()) {
      if (!card.dataset.result) {
        card.statusNode.textContent = t("status_interrupted");
        card.statusNode.className = "badge badge-warning tool-card-status";
      }
    }
    if (message_id) this.node.dataset.messageId = message_id;
    this.node.dataset.status = status || "complete";
    this.metaNode.replaceChildren();
    if (status && status !== "complete" && status !== "streaming") {
      const cls = status === "error" ? "badge badge-danger" : "badge badge-warning";
      this.metaNode.append(el("span", { class: cls, text: t(`status_${status}`) }));
    } else if (status === "streaming") this.metaNode.append(el("span", { class: "badge", text: t("status_streaming") }));
    const total = (usage && usage.total_tokens) || token_count;
    if (total) this.metaNode.append(el("span", { class: "usage", title: usage ? t("usage_detail", { prompt: usage.prompt_tokens ?? "?", completion: usage.completion_tokens ?? "?" }) : null, text: t("tokens", { n: total }) }));
    if (status === "error") this.showError(error || t("unexpected_error"), onRetry);
    if (citations && citations.length) this.showCitations(citations);
  }

  showCitations(citations) {
    const list = el("div", { class: "citations", "aria-label": t("sources") }, el("div", { class: "citations-title", text: t("sources") }));
    for (const [position, citation] of citations.entries()) {
      const where = [citation.page ? t("page_n", { n: citation.page }) : "", citation.heading || ""].filter(Boolean).join(" · ");
      const link = el(
          "a",
          { class: "citation", href: citationHref(citation) },
          el("div", { class: "citation-head" }, el("span", { class: "citation-index", text: `[${citation.index ?? position + 1}]` }), el("span", { class: "citation-name", text: citation.document_name || "" }), where ? el("span", { class: "citation-where", text: where }) : null),
          citation.snippet ? el("div", { class: "citation-snippet", text: citation.snippet }) : null,
        );
      // The knowledge page opens the document's chunks at the cited one; it finds an older
      // citation, stored without its chunk index, by this snippet.
      link.addEventListener("click", (event) => {
        if (citation.file_id) {
          // An attachment's passage: its document's text, here.
          event.preventDefault();
          openDocument(citation.file_id, citation.document_name || "");
          return;
        }
        sessionStorage.setItem("luxx.citation", JSON.stringify(citation));
      });
      list.append(link);
    }
    this.extraNode.append(list);
  }

  showError(message, onRetry) {
    const card = el("div", { class: "error-card", role: "alert" }, el("span", { class: "error-text", text: message }));
    if (onRetry) card.append(el("button", { class: "btn btn-secondary btn-small", type: "button", onclick: onRetry, text: t("retry") }));
    this.extraNode.append(card);
  }
}

function renderMessages(messages) {
  const nodes = [];
  let question = "";
  for (const [position, message] of messages.entries()) {
    if (message.role === "user") {
      question = message.content;
      const node = userMessageNode(message.content, message.attachments);
      node.dataset.messageId = message.id;
      node.append(messageActions(message, node));
      nodes.push(node);
    } else if (message.role === "assistant") {
      const view = new AssistantView();
      // Only the latest reply can be retried (replaced); any reply can be regenerated.
      const turn = { text: question, view, messageId: message.id };
      const latest = position === messages.length - 1;
      view.loadSaved(message, { onRetry: latest && state.current ? () => retry(state.current, turn) : null });
      view.node.querySelector(".message-body").append(messageActions(message, view.node, question));
      nodes.push(view.node);
    }
  }
  emptyNode.hidden = nodes.length > 0;
  messagesNode.replaceChildren(emptyNode, ...nodes);
  scrollToBottom(true);
}

// --- branches: copy, edit, regenerate, versions (< k/n >) ------------------------------

// Static, trusted SVG markup (never user content).
const ACTION_ICONS = {
  copy: '<rect x="8" y="8" width="12" height="12" rx="2"/><path d="M16 8V5a1 1 0 0 0-1-1H5a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h3"/>',
  regenerate: '<path d="M20 11a8 8 0 1 0-2.3 5.7"/><path d="M20 4v7h-7"/>',
  previous: '<path d="M15 6l-6 6 6 6"/>',
  next: '<path d="M9 6l6 6-6 6"/>',
  check: '<path d="M5 12l5 5L20 7"/>',
};

function actionIcon(name) {
  const span = document.createElement("span");
  span.innerHTML = `<svg class="icon" viewBox="0 0 24 24" width="15" height="15" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">${ACTION_ICONS[name] || ""}</svg>`;
  return span.firstElementChild;
}

function actionButton(name, label, onClick, extra = {}) {
  return el("button", { class: "icon-btn message-action", type: "button", "aria-label": label, title: label, onclick: onClick, ...extra }, name in ACTION_ICONS ? actionIcon(name) : icon(name, 15));
}

/** The buttons under a saved message: versions, copy, and edit (yours) or regenerate (replies). */
function messageActions(message, node, question = "") {
  const bar = el("div", { class: "message-actions", role: "group", "aria-label": t("message_actions") });
  const siblings = message.sibling_ids || [message.id];
  if (siblings.length > 1) bar.append(siblingNav(message, siblings));
  const copyButton = actionButton("copy", t("copy_message"), () => copyText(message.content || "", copyButton), { dataset: { action: "copy" } });
  bar.append(copyButton);
  if (message.role === "user") bar.append(actionButton("edit", t("edit_message"), () => startEdit(message, node), { dataset: { action: "edit" } }));
  else if (message.status !== "streaming") bar.append(actionButton("regenerate", t("regenerate"), () => regenerate(message, node, question), { dataset: { action: "regenerate" } }));
  return bar;
}

function siblingNav(message, siblings) {
  const index = siblings.indexOf(message.id);
  const position = t("version_k_of_n", { k: index + 1, n: siblings.length });
  const previous = actionButton("previous", t("previous_version"), () => switchTo(siblings[index - 1], "previous"), { dataset: { action: "previous" }, disabled: index <= 0 });
  const next = actionButton("next", t("next_version"), () => switchTo(siblings[index + 1], "next"), { dataset: { action: "next" }, disabled: index >= siblings.length - 1 });
  return el("span", { class: "sibling-nav" }, previous, el("span", { class: "sibling-position", "aria-label": position, title: position, text: `${index + 1}/${siblings.length}` }), next);
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = el("textarea", { class: "visually-hidden" });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  button.replaceChildren(actionIcon("check"));
  button.dataset.copied = "true";
  toast(t("copied"));
  setTimeout(() => {
    button.replaceChildren(actionIcon("copy"));
    delete button.dataset.copied;
  }, 1500);
}

/** Show the branch through `messageId` (the newest one below it), keeping the focus on
 * the version switch the user pressed. */
async function switchTo(messageId, control) {
  if (!messageId || !state.current || state.streaming) return;
  try {
    state.current = await put(`/api/conversations/${state.current.id}`, { current_leaf_id: messageId });
    await reloadBranch({ scroll: false });
    const node = messagesNode.querySelector(`[data-message-id="${CSS.escape(messageId)}"]`);
    const button = node && (node.querySelector(`[data-action="${control}"]:not([disabled])`) || node.querySelector(".sibling-nav button:not([disabled])"));
    if (button) button.focus();
    if (node) node.scrollIntoView({ block: "nearest" });
  } catch (error) {
    showError(error);
  }
}

/** The current branch of the open conversation, from the server. */
async function reloadBranch({ scroll = true } = {}) {
  const conversation = state.current;
  if (!conversation) return;
  const data = await get(`/api/messages/?conversation_id=${encodeURIComponent(conversation.id)}`);
  if (state.current !== conversation && (!state.current || state.current.id !== conversation.id)) return;
  const top = messagesNode.scrollTop;
  renderMessages(data.messages || []);
  if (!scroll) messagesNode.scrollTop = top;
}

/** Drop `node` and everything after it: a new branch is about to be drawn there. */
function cutFrom(node) {
  while (node.nextSibling) node.nextSibling.remove();
  node.remove();
}

function startEdit(message, node) {
  if (state.streaming) return;
  const field = el("textarea", { class: "input edit-input", rows: 3, "aria-label": t("edit_message") });
  field.value = message.content;
  const save = el("button", { class: "btn btn-primary btn-small", type: "submit", text: t("save_and_send") });
  const cancel = el("button", { class: "btn btn-ghost btn-small", type: "button", text: t("cancel") });
  const form = el("form", { class: "edit-form" }, field, el("div", { class: "edit-buttons" }, cancel, save));
  const original = [...node.childNodes];
  node.classList.add("editing");
  node.replaceChildren(form);
  const close = () => {
    node.classList.remove("editing");
    node.replaceChildren(...original);
    const button = node.querySelector('[data-action="edit"]');
    if (button) button.focus();
  };
  cancel.addEventListener("click", close);
  field.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close();
    } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = field.value;
    if (!text.trim() || state.streaming) return;
    sendBranch(node, { content: text, parent_id: message.parent_id ?? null }, text, { user: text });
  });
  field.style.height = `${Math.min(Math.max(field.scrollHeight, 80), 320)}px`;
  field.focus();
  field.setSelectionRange(field.value.length, field.value.length);
}

function regenerate(message, node, question) {
  if (state.streaming) return;
  sendBranch(node, { regenerate_message_id: message.id }, question, {});
}

/** Start a new branch where `node` was: an edited question, or a new version of a reply. */
async function sendBranch(node, body, question, { user = null }) {
  const conversation = state.current;
  if (!conversation) return;
  try {
    await ensureConversation();
  } catch (error) {
    showError(error);
    return;
  }
  cutFrom(node);
  if (user !== null) messagesNode.append(userMessageNode(user));
  const turn = { text: question, view: null, messageId: null };
  await streamReply(conversation, body, turn);
  if (!state.current || state.current.id !== conversation.id) return;
  // Refused before it started (e.g. 409: another tab is generating a reply here): say why
  // and draw the branch as it is; otherwise draw the new branch with its version switches.
  const refused = turn.view && !turn.view.node.dataset.messageId && turn.view.node.querySelector(".error-text");
  if (refused) toast(refused.textContent, { error: true });
  await reloadBranch().catch(showError);
}

// --- the conversation menu: export and import -----------------------------------------

function menuItems() {
  return [...menuNode.querySelectorAll(".menu-item")].filter((item) => !item.hidden);
}

function setMenuOpen(open, { focus = true } = {}) {
  if (open) {
    const conversation = state.current;
    exportJson.hidden = exportMarkdown.hidden = !conversation;
    if (conversation) {
      const base = `/api/conversations/${encodeURIComponent(conversation.id)}/export`;
      exportJson.href = `${base}?format=json`;
      exportMarkdown.href = `${base}?format=markdown`;
    }
  }
  menuNode.hidden = !open;
  menuButton.setAttribute("aria-expanded", String(open));
  if (open && focus) menuItems()[0].focus();
  else if (!open && focus) menuButton.focus();
}

function onMenuKey(event) {
  const items = menuItems();
  const index = items.indexOf(document.activeElement);
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    const step = event.key === "ArrowDown" ? 1 : -1;
    items[(index + step + items.length) % items.length].focus();
  } else if (event.key === "Home" || event.key === "End") {
    event.preventDefault();
    items[event.key === "Home" ? 0 : items.length - 1].focus();
  } else if (event.key === "Escape") {
    event.preventDefault();
    event.stopPropagation();
    setMenuOpen(false);
  } else if (event.key === "Tab") setMenuOpen(false, { focus: false });
}

async function importConversations(file) {
  const form = new FormData();
  form.append("file", file);
  try {
    const data = await post("/api/conversations/import", form);
    const skipped = (data.skipped || []).length;
    toast(skipped ? t("imported_some", { n: data.imported, skipped }) : t("imported_n", { n: data.imported }));
    await loadConversations();
    const first = (data.conversations || [])[0];
    if (first) await openConversation(first.id, { push: true });
  } catch (error) {
    showError(error);
  } finally {
    importFile.value = "";
  }
}

menuButton.addEventListener("click", (event) => {
  event.stopPropagation();
  setMenuOpen(menuNode.hidden);
});
menuButton.addEventListener("keydown", (event) => {
  if (event.key === "ArrowDown" && menuNode.hidden) {
    event.preventDefault();
    setMenuOpen(true);
  }
});
menuNode.addEventListener("keydown", onMenuKey);
for (const link of [exportJson, exportMarkdown]) link.addEventListener("click", () => setMenuOpen(false, { focus: false }));
importButton.addEventListener("click", () => {
  setMenuOpen(false);
  importFile.click();
});
importFile.addEventListener("change", () => {
  if (importFile.files && importFile.files[0]) importConversations(importFile.files[0]);
});
document.addEventListener("click", (event) => {
  if (!menuNode.hidden && !menuNode.contains(event.target) && event.target !== menuButton) setMenuOpen(false, { focus: false });
});

// --- opening conversations ------------------------------------------------------------

function newChat({ push = false } = {}) {
  if (!leaveFollowedReply()) return;
  state.current = null;
  setTitle("");
  showUsage(null);
  renderAgent();
  renderMessages([]);
  thinkingToggle.checked = preferredThinking();
  showToolsOf(null);
  renderPicker();
  if (push && location.pathname !== "/") history.pushState({}, "", "/");
  renderSidebar();
  setSidebarOpen(false);
  input.focus();
}

async function openConversation(id, { push = false } = {}) {
  if (!leaveFollowedReply()) return;
  try {
    const [conversation, data] = await Promise.all([get(`/api/conversations/${encodeURIComponent(id)}`), get(`/api/messages/?conversation_id=${encodeURIComponent(id)}`)]);
    state.current = conversation;
    setTitle(conversation.title);
    showUsage(conversation.id);
    renderAgent();
    renderMessages(data.messages || []);
    followIfStreaming(conversation, data.messages || []);
    thinkingToggle.checked = !!conversation.thinking_enabled;
    showToolsOf(conversation);
    renderPicker();
    if (push) history.pushState({ id }, "", `/c/${id}`);
    renderSidebar();
    setSidebarOpen(false);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      toast(error.message, { error: true });
      newChat({ push: true });
    } else showError(error);
  }
}

// --- sending and streaming --------------------------------------------------------------

function setStreaming(streaming) {
  composer.classList.toggle("streaming", !!streaming);
  sendButton.setAttribute("aria-label", streaming ? t("stop") : t("send"));
  sendButton.title = streaming ? t("stop") : t("send");
  updateSendState();
}

function updateSendState() {
  sendButton.disabled = !state.streaming && (uploading() || (!input.value.trim() && !readyFiles().length));
}

function autosize() {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 240)}px`;
}

async function ensureConversation() {
  if (state.current) {
    const chosen = selectedModel();
    const changes = {};
    if (chosen.provider_id && (chosen.provider_id !== state.current.provider_id || chosen.model !== state.current.model)) Object.assign(changes, chosen);
    if (thinkingToggle.checked !== !!state.current.thinking_enabled) changes.thinking_enabled = thinkingToggle.checked;
    if (Object.keys(changes).length) state.current = await put(`/api/conversations/${state.current.id}`, changes);
    return state.current;
  }
  const conversation = await post("/api/conversations/", { ...selectedModel(), thinking_enabled: thinkingToggle.checked, enabled_tools: [...state.enabledTools] });
  state.current = conversation;
  state.conversations.unshift(conversation);
  setTitle(conversation.title);
  history.pushState({ id: conversation.id }, "", `/c/${conversation.id}`);
  renderSidebar();
  return conversation;
}

async function send(text, files = []) {
  if (state.streaming || (!text.trim() && !files.length)) return;
  let conversation;
  try {
    conversation = await ensureConversation();
  } catch (error) {
    showError(error);
    return;
  }
  emptyNode.hidden = true;
  messagesNode.append(userMessageNode(text, files));
  const body = text.trim() ? { content: text } : {};
  if (files.length) body.attachments = files.map((file) => file.id);
  const turn = { text, attachments: body.attachments, view: null, messageId: null };
  await streamReply(conversation, body, turn);
  // The saved messages, with their ids and buttons (copy, edit, regenerate); a failed
  // reply keeps its error card and Retry as drawn.
  const saved = turn.view && turn.view.node.dataset.messageId && turn.view.node.dataset.status !== "error";
  if (saved && state.current && state.current.id === conversation.id) await reloadBranch().catch(showError);
}

/**
 * Stream one reply into `turn.view` (a new view, or in place of the failed one when
 * retrying). `turn` remembers what a retry needs: the text and the failed reply's id.
 */
async function streamReply(conversation, body, turn) {
  const view = new AssistantView({ live: true });
  if (turn.view && turn.view.node.isConnected) turn.view.node.replaceWith(view.node);
  else messagesNode.append(view.node);
  turn.view = view;
  turn.messageId = null;
  turn.saved = true; // whether the server may have saved the user message
  scrollToBottom(true);

  const controller = new AbortController();
  state.streaming = { controller, conversationId: conversation.id, stopRequested: false, view };
  // The server keeps the tools sent with a message as the conversation's choice.
  const tools = [...state.enabledTools];
  conversation.enabled_tools = tools;
  state.lastTools = tools;
  setStreaming(true);
  const onRetry = () => retry(conversation, turn);
  let finished = false;
  let lastId = null; // the `id` of the last event: where a dropped stream resumes
  const apply = ({ event, data, id }) => {
    if (id !== null) lastId = id;
    if (event === "process_step" && data && data.step) view.apply(data.step);
    else if (event === "retrying") view.showRetrying(data || {});
    else if (event === "done") {
      finished = true;
      view.finish(data);
    } else if (event === "error") {
      finished = true;
      turn.messageId = (data && data.message_id) || null;
      view.finish({ status: "error", message_id: turn.messageId, error: (data && data.content) || t("unexpected_error"), onRetry });
    }
  };
  try {
    const response = await request("/api/messages/stream", {
      method: "POST",
      body: { conversation_id: conversation.id, ...body, thinking_enabled: thinkingToggle.checked, enabled_tools: tools },
      signal: controller.signal,
    });
    try {
      for await (const event of readEvents(response)) apply(event);
    } catch (error) {
      if (error.name === "AbortError") throw error;
    }
    // The connection dropped before the end: the reply goes on on the server.
    if (!finished && !state.streaming.stopRequested) finished = await resumeDropped(conversation, () => lastId, apply, controller.signal);
    if (!finished) view.finish({ status: state.streaming.stopRequested ? "stopped" : "interrupted" });
  } catch (error) {
    if (error.name === "AbortError") view.finish({ status: "stopped" });
    else {
      // An answer with an HTTP error status came before the stream: nothing was saved.
      if (error instanceof ApiError && error.status) turn.saved = !!body.retry_message_id;
      if (body.retry_message_id) turn.messageId = body.retry_message_id;
      view.finish({ status: "error", error: error.message || t("unexpected_error"), onRetry });
    }
  } finally {
    if (state.current) showUsage(state.current.id);
    state.streaming = null;
    setStreaming(false);
    scrollToBottom();
    refreshAfterReply(conversation.id);
  }
}

/** Follow the reply of a stream that dropped, from its events after `lastId()`: a few
 * tries while the network comes back. True once the reply's end arrived. */
async function resumeDropped(conversation, lastId, apply, signal) {
  for (const delay of [0, 1000, 2000, 4000]) {
    await new Promise((resolve) => setTimeout(resolve, delay));
    if (signal.aborted) return false;
    try {
      const data = await get(`/api/messages/?conversation_id=${encodeURIComponent(conversation.id)}&limit=1`);
      const reply = (data.messages || []).at(-1);
      if (!reply || reply.role !== "assistant") return false;
      const after = encodeURIComponent(lastId() || "0");
      const response = await request(`/api/messages/${encodeURIComponent(reply.id)}/events?lastEventId=${after}`, { signal });
      let ended = false;
      for await (const event of readEvents(response)) {
        apply(event);
        if (event.event === "done" || event.event === "error") ended = true;
      }
      if (ended) return true;
    } catch (error) {
      if (error.name === "AbortError") throw error;
      if (error instanceof ApiError && error.status) return false;
    }
  }
  return false;
}

/** When the conversation's latest reply is still being generated (it was started before a
 * reload, or in another tab), show it continuing live. */
function followIfStreaming(conversation, messages) {
  const reply = messages.at(-1);
  if (!reply || reply.role !== "assistant" || reply.status !== "streaming") return;
  const question = messages.findLast((m) => m.role === "user");
  followReply(conversation, reply, question ? question.content : "");
}

/** Leave the reply being followed (it goes on on the server). False while this tab's own
 * reply streams: that one is not left. */
function leaveFollowedReply() {
  const streaming = state.streaming;
  if (!streaming) return true;
  if (!streaming.follower) return false;
  streaming.left = true;
  streaming.controller.abort();
  state.streaming = null;
  setStreaming(false);
  return true;
}

/** Follow a reply from GET /api/messages/{id}/events: what it streamed so far, then the
 * rest live, in place of its saved (up to a second old) state. */
async function followReply(conversation, message, question) {
  const saved = [...messagesNode.querySelectorAll(".message-assistant")].find((node) => node.dataset.messageId === message.id);
  const view = new AssistantView({ live: true });
  view.node.dataset.messageId = message.id;
  view.node.dataset.status = "streaming";
  if (saved) saved.replaceWith(view.node);
  else messagesNode.append(view.node);
  const turn = { text: question, view, messageId: message.id, saved: true };
  const onRetry = () => retry(conversation, turn);
  const controller = new AbortController();
  const streaming = { controller, conversationId: conversation.id, stopRequested: false, view, follower: true, left: false };
  state.streaming = streaming;
  setStreaming(true);
  let finished = false;
  try {
    const response = await request(`/api/messages/${encodeURIComponent(message.id)}/events`, { signal: controller.signal });
    for await (const { event, data } of readEvents(response)) {
      if (event === "process_step" && data && data.step) view.apply(data.step);
      else if (event === "done") {
        finished = true;
        view.finish(data);
      } else if (event === "error") {
        finished = true;
        view.finish({ status: "error", message_id: message.id, error: (data && data.content) || t("unexpected_error"), onRetry });
      }
    }
    if (!finished) view.finish({ status: "streaming", message_id: message.id });
  } catch (error) {
    if (streaming.left) return;
    if (error.name === "AbortError") view.finish({ status: streaming.stopRequested ? "stopped" : "streaming", message_id: message.id });
    else view.finish({ status: "streaming", message_id: message.id, error: error.message });
  } finally {
    if (state.streaming === streaming) {
      state.streaming = null;
      setStreaming(false);
      scrollToBottom();
      if (finished) refreshAfterReply(conversation.id);
    }
  }
}

/** Retry a failed reply: regenerate it from the same user message, never send that again. */
async function retry(conversation, turn) {
  if (state.streaming) return;
  let messageId = turn.messageId;
  if (!messageId && turn.saved) {
    // The stream broke before naming the reply: the conversation's latest messages tell
    // whether the question was saved with a reply.
    try {
      const data = await get(`/api/messages/?conversation_id=${encodeURIComponent(conversation.id)}&limit=2`);
      const [question, reply] = (data.messages || []).slice(-2);
      if (reply && reply.role === "assistant" && reply.status !== "streaming" && question && question.content === turn.text) messageId = reply.id;
    } catch (error) {
      showError(error);
      return;
    }
  }
  const again = turn.text.trim() ? { content: turn.text } : {};
  if (turn.attachments && turn.attachments.length) again.attachments = turn.attachments;
  await streamReply(conversation, messageId ? { retry_message_id: messageId } : again, turn);
}

async function refreshAfterReply(conversationId) {
  // The title is generated after the first reply; look again shortly after.
  for (const delay of [0, 1500, 4000]) {
    await new Promise((resolve) => setTimeout(resolve, delay));
    try {
      const conversation = await get(`/api/conversations/${conversationId}`);
      const index = state.conversations.findIndex((c) => c.id === conversationId);
      if (index >= 0) state.conversations.splice(index, 1);
      state.conversations.unshift(conversation);
      if (state.current && state.current.id === conversationId) {
        state.current = conversation;
        setTitle(conversation.title);
      }
      renderSidebar();
      if (conversation.title) break;
    } catch {
      return;
    }
  }
}

/** Stop: ask the server to stop the reply (saved as "stopped"); abort the fetch if it cannot. */
async function stop() {
  const streaming = state.streaming;
  if (!streaming || streaming.stopRequested) return;
  streaming.stopRequested = true;
  try {
    const data = await get(`/api/messages/?conversation_id=${encodeURIComponent(streaming.conversationId)}&limit=1`);
    const last = (data.messages || []).at(-1);
    if (last && last.role === "assistant" && last.status === "streaming") {
      await post(`/api/messages/${last.id}/stop`);
      // The stream ends with `done` (status stopped); abort if it does not end soon.
      setTimeout(() => state.streaming === streaming && streaming.controller.abort(), 8000);
      return;
    }
  } catch (error) {
    console.warn("stop endpoint failed, aborting the stream", error);
  }
  streaming.controller.abort();
}

// --- wiring ---------------------------------------------------------------------------

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  if (state.streaming) {
    stop();
    return;
  }
  const text = input.value;
  if (uploading()) {
    toast(t("attach_wait"));
    return;
  }
  const files = readyFiles();
  if (!text.trim() && !files.length) return;
  input.value = "";
  clearTray();
  autosize();
  updateSendState();
  send(text, files);
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    composer.requestSubmit();
  }
});
input.addEventListener("input", () => {
  autosize();
  updateSendState();
});

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  if (!toolsPanel.hidden) {
    setToolsOpen(false);
    toolsButton.focus();
  } else if (state.streaming) {
    event.preventDefault();
    stop();
  } else if (sidebar.classList.contains("open")) setSidebarOpen(false);
});

document.getElementById("new-chat").addEventListener("click", () => newChat({ push: true }));
searchInput.addEventListener("input", onSearchInput);
sidebarToggle.addEventListener("click", () => setSidebarOpen(!sidebar.classList.contains("open")));
scrim.addEventListener("click", () => setSidebarOpen(false));
toolsButton.addEventListener("click", (event) => {
  event.stopPropagation();
  setToolsOpen(toolsPanel.hidden);
});
document.addEventListener("click", (event) => {
  if (!toolsPanel.hidden && !toolsPanel.contains(event.target)) setToolsOpen(false);
});
thinkingToggle.addEventListener("change", () => localStorage.setItem("luxx.thinking", thinkingToggle.checked ? "1" : "0"));
modelPicker.addEventListener("change", () => {
  modelInput.value = (providerById(modelPicker.value) || {}).default_model || "";
  fillModelOptions();
  saveModelChoice();
});
modelInput.addEventListener("change", saveModelChoice);
window.addEventListener("popstate", () => {
  const match = location.pathname.match(/^\/c\/([^/]+)/);
  if (match) openConversation(decodeURIComponent(match[1]));
  else newChat();
});

async function init() {
  initAttachments({ onChange: updateSendState, dropZone: document.querySelector(".chat-pane"), pasteTarget: input });
  updateSendState();
  await Promise.all([loadAgents(), loadTools(), loadConversations()]);
  // The user's last choice of tools: that of their latest conversation with one.
  const latest = state.conversations.find((c) => Array.isArray(c.enabled_tools));
  state.lastTools = latest ? latest.enabled_tools : null;
  await loadProviders(); // after the agents and conversations: they suggest models
  const initial = root.dataset.conversationId;
  if (initial) await openConversation(initial);
  else {
    showToolsOf(null);
    input.focus();
  }
  root.dataset.ready = "true";
}

init();
