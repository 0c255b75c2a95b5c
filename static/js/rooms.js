// Chat rooms: create a room with agents, run it (POST .../start streams the run as SSE),
// stop, resume, reset; other tabs follow the same run via GET .../events (EventSource).

import { del, get, post, request } from "./api.js";
import { t } from "./i18n.js";
import { renderMarkdown } from "./markdown.js";
import { readEvents } from "./sse.js";
import { el, safeColor, showError } from "./ui.js";

const root = document.getElementById("rooms");
const listNode = document.getElementById("room-list");
const sidebar = document.getElementById("room-sidebar");
const scrim = document.getElementById("room-scrim");
const views = { room: document.getElementById("room-view"), create: document.getElementById("room-create"), empty: document.getElementById("room-empty") };
const titleNode = document.getElementById("room-title");
const statusNode = document.getElementById("room-status");
const roundNode = document.getElementById("room-round");
const agentsNode = document.getElementById("room-agents");
const transcript = document.getElementById("transcript");
const inner = document.getElementById("transcript-inner");
const startButton = document.getElementById("room-start");
const stopButton = document.getElementById("room-stop");
const resetButton = document.getElementById("room-reset");
const deleteButton = document.getElementById("room-delete");
const composer = document.getElementById("room-composer");
const composerInput = document.getElementById("room-composer-input");
const composerCall = document.getElementById("room-composer-call");
const form = document.getElementById("room-form");
const formError = document.getElementById("room-form-error");

const EVENT_TYPES = ["room_started", "round_start", "message_start", "message_chunk", "message_end", "message", "round_end", "room_completed", "room_paused", "agent_error", "error", "room_reset", "speaker_selected", "human_turn_requested", "human_message", "summary"];

// Agent errors the server words itself (rooms/orchestrator.py), in English whatever the
// page's language: shown translated. Others (the provider's faults) are shown as sent.
const KNOWN_AGENT_ERRORS = { "This agent has no usable model provider or model.": "agent_no_provider" };

function agentErrorText(agent, error) {
  const known = KNOWN_AGENT_ERRORS[error];
  return t("agent_error", { agent: agent || "…", error: known ? t(known) : error });
}

const state = {
  rooms: [],
  templates: [],
  room: null,
  bubbles: new Map(), // message id -> {node, body, content, frame}
  rounds: new Set(),
  notices: new Set(),
  localRun: null, // AbortController of this tab's own start stream
  observer: null, // EventSource
  held: null, // observer events that arrive while the transcript reloads, replayed after
};

// --- list ------------------------------------------------------------------------------

const STATUS_BADGE = { idle: "badge", running: "badge badge-info", paused: "badge badge-warning", completed: "badge badge-success", error: "badge badge-danger", waiting: "badge badge-warning" };

function renderList() {
  if (!state.rooms.length) {
    listNode.replaceChildren(el("p", { class: "conv-empty", text: t("no_rooms") }));
    return;
  }
  listNode.replaceChildren(
    ...state.rooms.map((room) => {
      const active = state.room && state.room.id === room.id;
      const link = el(
        "a",
        { class: active ? "list-item active" : "list-item", href: `/rooms/${room.id}`, "aria-current": active ? "page" : null, dataset: { roomId: room.id } },
        el("div", { class: "list-item-title", text: room.title }),
        el("div", { class: "list-item-sub" }, el("span", { class: STATUS_BADGE[room.status] || "badge", text: t(`room_status_${room.status}`) }), el("span", { text: (room.agents || []).map((a) => a.name).join(", ") })),
      );
      link.addEventListener("click", (event) => {
        if (event.metaKey || event.ctrlKey) return;
        event.preventDefault();
        openRoom(room.id, { push: true });
      });
      return link;
    }),
  );
}

async function loadRooms() {
  try {
    const data = await get("/api/chat-rooms/?page_size=100");
    state.rooms = data.items || [];
    renderList();
  } catch (error) {
    showError(error);
  }
}

function show(name) {
  for (const [key, node] of Object.entries(views)) node.hidden = key !== name;
  setListOpen(false);
}

function setListOpen(open) {
  sidebar.classList.toggle("open", open);
  scrim.hidden = !open;
  for (const button of document.querySelectorAll("[data-toggle-list]")) button.setAttribute("aria-expanded", String(open));
}

// --- room view -----------------------------------------------------------------------------

function setRoom(room) {
  state.room = { ...state.room, ...room };
  const current = state.room;
  titleNode.textContent = current.title;
  document.title = `${current.title} · Luxx`;
  statusNode.className = STATUS_BADGE[current.status] || "badge";
  statusNode.textContent = t(`room_status_${current.status}`);
  statusNode.dataset.status = current.status;
  roundNode.textContent = current.current_round ? t("round_of", { n: current.current_round, max: current.max_rounds }) : t("round_of", { n: 0, max: current.max_rounds });
  agentsNode.replaceChildren(
    ...(current.agents || []).map((agent) => {
      const color = safeColor(agent.color);
      return el("span", { class: "agent-chip" }, el("span", { class: "swatch", style: { background: color }, "aria-hidden": "true" }), el("span", { text: agent.name }));
    }),
  );
  const running = current.status === "running";
  const waiting = current.status === "waiting";
  startButton.textContent = current.status === "paused" ? t("resume") : t("start");
  startButton.disabled = running || waiting || current.status === "completed" || !!state.localRun;
  // A room with a seat for its owner has a composer, called out while the run waits for them.
  composer.hidden = !current.human_turn || current.human_turn === "never";
  composer.classList.toggle("waiting", waiting);
  composerCall.hidden = !waiting;
  stopButton.disabled = !running && !waiting;
  resetButton.disabled = running;
  deleteButton.disabled = running;
  const listed = state.rooms.find((r) => r.id === current.id);
  if (listed && (listed.status !== current.status || listed.title !== current.title)) {
    Object.assign(listed, { status: current.status, title: current.title });
    renderList();
  }
}

function nearBottom() {
  return transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 160;
}

function scrollDown(force = false) {
  if (force || nearBottom()) transcript.scrollTop = transcript.scrollHeight;
}

function appendNode(node) {
  const follow = nearBottom();
  inner.append(node);
  if (follow) scrollDown(true);
}

function ensureRound(round) {
  if (!round || state.rounds.has(round)) return;
  state.rounds.add(round);
  appendNode(el("div", { class: "round-marker", role: "separator", dataset: { round }, text: t("round_n", { n: round }) }));
}

function notice(key, text, { error = false, messageId = null } = {}) {
  if (state.notices.has(key)) return;
  state.notices.add(key);
  if (error) appendNode(el("div", { class: "error-card room-error", role: "alert", dataset: messageId ? { messageId } : {} }, el("span", { class: "error-text", text })));
  else appendNode(el("div", { class: "room-notice", role: "status", text }));
}

function bubble(id, { sender_name, sender_color, round_number } = {}) {
  let entry = state.bubbles.get(id);
  if (!entry) {
    ensureRound(round_number);
    const body = el("div", { class: "md" });
    const name = el("div", { class: "room-msg-name", text: sender_name || "…" });
    const node = el("article", { class: "room-msg", dataset: { messageId: id } }, el("div", { class: "room-msg-body" }, name, body));
    entry = { node, body, name, content: "", frame: 0 };
    state.bubbles.set(id, entry);
    appendNode(node);
  }
  if (sender_name) {
    entry.name.textContent = sender_name;
    entry.node.dataset.sender = sender_name;
  }
  if (sender_color) entry.node.style.setProperty("--speaker", safeColor(sender_color));
  return entry;
}

function setContent(entry, content, { final = false } = {}) {
  if (!final && content.length < entry.content.length) return; // a late observer event
  entry.content = content;
  entry.body.parentElement.classList.toggle("cursor", !final);
  if (final) {
    cancelAnimationFrame(entry.frame);
    entry.frame = 0;
    renderMarkdown(entry.body, content);
    entry.node.dataset.complete = "true";
    scrollDown();
    return;
  }
  if (entry.frame) return;
  entry.frame = requestAnimationFrame(() => {
    entry.frame = 0;
    renderMarkdown(entry.body, entry.content, { highlight: false });
    scrollDown();
  });
}

const REASONS = { max_rounds: "reason_max_rounds", max_messages: "reason_max_messages", text_mention: "reason_text_mention", token_budget: "reason_token_budget", timeout_seconds: "reason_timeout_seconds", all: "reason_all", moderator: "reason_moderator", usage_limit: "reason_usage_limit" };

function completedText(reason) {
  return reason && REASONS[reason] ? t("room_completed_because", { reason: t(REASONS[reason]) }) : t("room_completed");
}

function markSummary(id) {
  const entry = id ? state.bubbles.get(id) : null;
  if (!entry || entry.node.classList.contains("room-summary")) return;
  entry.node.classList.add("room-summary");
  entry.name.textContent = t("summary_by", { agent: entry.node.dataset.sender || "…" });
}

function humanBubble(message) {
  const entry = bubble(message.id, message);
  entry.node.classList.add("room-human");
  setContent(entry, message.content || "", { final: true });
}

function renderTranscript(messages) {
  state.bubbles.clear();
  state.rounds.clear();
  state.notices.clear();
  inner.replaceChildren(el("div", { class: "task-card" }, el("div", { class: "task-card-label", text: t("task") }), el("div", { class: "task-card-text", text: state.room.task })));
  for (const message of messages) {
    if (message.role === "user" && !message.round_number) continue; // the task, shown above
    if (message.role === "user") {
      humanBubble(message);
      continue;
    }
    const content = message.content || message.text || "";
    if (message.status === "error") {
      // A turn that failed upstream is saved with status error: show it as the live
      // agent_error card was shown (with the partial text, if any).
      if (content) setContent(bubble(message.id, message), content, { final: true });
      else ensureRound(message.round_number);
      notice(`agent-error-${message.id}`, agentErrorText(message.sender_name, message.error || t("status_error")), { error: true, messageId: message.id });
      continue;
    }
    const entry = bubble(message.id, message);
    setContent(entry, content, { final: message.status !== "streaming" });
  }
  if (state.room.summary_message_id) markSummary(state.room.summary_message_id);
  if (state.room.status === "completed") notice("completed", completedText(state.room.end_reason));
  scrollDown(true);
}

function handle(type, data) {
  if (!data || typeof data !== "object") return;
  switch (type) {
    case "room_started":
      setRoom({ status: "running" });
      break;
    case "round_start":
      ensureRound(data.round);
      setRoom({ current_round: data.round, max_rounds: data.max_rounds || state.room.max_rounds, status: "running" });
      break;
    case "message_start":
      bubble(data.id, data);
      break;
    case "message_chunk":
      setContent(bubble(data.id), data.accumulated ?? (state.bubbles.get(data.id)?.content || "") + (data.content || ""));
      break;
    case "message_end":
      setContent(bubble(data.id), data.content || "", { final: true });
      break;
    case "message": {
      const entry = bubble(data.id, data);
      setContent(entry, data.content || data.text || "", { final: true });
      break;
    }
    case "room_completed":
      setRoom({ status: "completed", end_reason: data.reason || null, summary_message_id: data.summary_message_id || null });
      if (data.summary_message_id) markSummary(data.summary_message_id);
      // A usage limit's own words (from the server, in English) come with the reason.
      notice("completed", data.message ? `${completedText(data.reason)} ${data.message}` : completedText(data.reason));
      refreshRoom();
      break;
    case "speaker_selected": {
      // Worded here, in the page's language, when the reason is one the page knows.
      const key = `selected_${data.reason_code}`;
      const text = t(key, { agent: data.agent });
      notice(`selected-${data.round}-${state.bubbles.size}-${data.agent}`, text !== key ? text : t("speaker_selected", { agent: data.agent, reason: data.reason }));
      break;
    }
    case "human_turn_requested":
      setRoom({ status: "waiting" });
      notice(`human-${data.round}-${state.bubbles.size}`, data.reason === "on_mention" && data.agent ? t("human_asked_by", { agent: data.agent }) : t("human_asked"));
      composerInput.focus();
      break;
    case "human_message":
      humanBubble(data);
      if (state.room.status === "waiting") setRoom({ status: "running" });
      break;
    case "summary":
      markSummary(data.message_id);
      break;
    case "room_paused":
      setRoom({ status: "paused" });
      notice(`paused-${state.room.current_round}-${state.bubbles.size}`, t("room_paused"));
      refreshRoom();
      break;
    case "agent_error": {
      // The failed turn's bubble, if it got no text, is replaced by the card.
      // Keyed by the failed message, so a card already drawn from the transcript is not drawn twice.
      const id = data.message_id || [...state.bubbles.entries()].reverse().find(([, entry]) => entry.node.dataset.sender === data.agent && !entry.content)?.[0];
      const failed = id ? state.bubbles.get(id) : null;
      if (failed && !failed.content) {
        failed.node.remove();
        state.bubbles.delete(id);
      }
      notice(`agent-error-${id || `${data.agent}-${data.error}-${state.room.current_round}`}`, agentErrorText(data.agent, data.error), { error: true, messageId: id || null });
      break;
    }
    case "error":
      notice(`error-${data.content}`, data.content || t("unexpected_error"), { error: true });
      refreshRoom();
      break;
    case "room_reset":
      // Reset here or in another tab: its turns are gone.
      setRoom({ status: "idle", current_round: 0 });
      renderTranscript([]);
      refreshRoom();
      break;
    default:
      break;
  }
}

async function refreshRoom() {
  if (!state.room) return;
  const id = state.room.id;
  try {
    const room = await get(`/api/chat-rooms/${id}`);
    if (state.room && state.room.id === id) setRoom(room);
  } catch (error) {
    showError(error);
  }
}

/**
 * Load the transcript again from the server. Events that arrive meanwhile are held and
 * applied afterwards, so none is lost between the snapshot and the live stream.
 */
async function reloadTranscript() {
  if (!state.room || state.held) return;
  const id = state.room.id;
  state.held = [];
  try {
    const data = await get(`/api/chat-rooms/${encodeURIComponent(id)}/messages`);
    if (!state.room || state.room.id !== id) return;
    setRoom(data.room);
    renderTranscript(data.messages || []);
  } catch (error) {
    showError(error);
  } finally {
    const held = state.held || [];
    state.held = null;
    for (const [type, data] of held) handle(type, data);
  }
}

function observe(roomId) {
  closeObserver();
  const source = new EventSource(`/api/chat-rooms/${encodeURIComponent(roomId)}/events`);
  for (const type of EVENT_TYPES) {
    source.addEventListener(type, (event) => {
      if (state.localRun || !state.room || state.room.id !== roomId) return;
      let data = null;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      if (state.held) state.held.push([type, data]);
      else if (type === "room_started") {
        // Start from the server's transcript: a reset elsewhere whose room_reset never came
        // (its publish failed) would otherwise leave the old turns above the new ones.
        handle(type, data);
        reloadTranscript();
      } else handle(type, data);
    });
  }
  // The replay log no longer reaches back to what this tab saw: reload from /messages.
  source.addEventListener("stream-reset", () => {
    if (!state.localRun && state.room && state.room.id === roomId) reloadTranscript();
  });
  state.observer = source;
}

function closeObserver() {
  if (state.observer) state.observer.close();
  state.observer = null;
}

async function openRoom(id, { push = false } = {}) {
  try {
    const data = await get(`/api/chat-rooms/${encodeURIComponent(id)}/messages`);
    state.room = null;
    setRoom(data.room);
    renderTranscript(data.messages || []);
    show("room");
    if (push) history.pushState({ id }, "", `/rooms/${id}`);
    renderList();
    observe(id);
    root.dataset.ready = "true";
  } catch (error) {
    showError(error);
    show("empty");
  }
}

async function start() {
  const room = state.room;
  if (!room || state.localRun) return;
  const controller = new AbortController();
  state.localRun = controller;
  setRoom({ status: "running" });
  state.notices.delete("completed");
  try {
    const response = await request(`/api/chat-rooms/${room.id}/start`, { method: "POST", signal: controller.signal });
    for await (const { event, data } of readEvents(response)) {
      if (state.room && state.room.id === room.id) handle(event, data);
    }
  } catch (error) {
    showError(error);
  } finally {
    state.localRun = null;
    if (state.room && state.room.id === room.id) await refreshRoom();
  }
}

async function speak(event) {
  event.preventDefault();
  const room = state.room;
  const content = composerInput.value.trim();
  if (!room || !content) return;
  const button = document.getElementById("room-send");
  button.disabled = true;
  try {
    const message = await post(`/api/chat-rooms/${room.id}/messages`, { content });
    composerInput.value = "";
    if (state.room && state.room.id === room.id) {
      humanBubble(message);
      await refreshRoom();
    }
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

async function stop() {
  if (!state.room) return;
  stopButton.disabled = true;
  try {
    await post(`/api/chat-rooms/${state.room.id}/stop`);
  } catch (error) {
    showError(error);
    stopButton.disabled = false;
  }
}

async function reset() {
  if (!state.room || !window.confirm(t("confirm_reset_room"))) return;
  try {
    const room = await post(`/api/chat-rooms/${state.room.id}/reset`);
    setRoom(room);
    renderTranscript([]);
  } catch (error) {
    showError(error);
  }
}

async function removeRoom() {
  if (!state.room || !window.confirm(t("confirm_delete_room"))) return;
  try {
    await del(`/api/chat-rooms/${state.room.id}`);
    state.rooms = state.rooms.filter((r) => r.id !== state.room.id);
    state.room = null;
    closeObserver();
    history.pushState({}, "", "/rooms/");
    renderList();
    show("empty");
  } catch (error) {
    showError(error);
  }
}

// --- creating a room ------------------------------------------------------------------------

const PALETTE = ["#10b981", "#f59e0b", "#2563eb", "#ef4444", "#8b5cf6", "#ec4899", "#14b8a6"];

function inlineRow() {
  const index = form.querySelectorAll(".inline-agent").length;
  const row = el("div", { class: "inline-agent" });
  const name = el("input", { class: "input", name: "inline_name", placeholder: t("name"), "aria-label": t("name"), maxlength: 100 });
  const role = el("input", { class: "input", name: "inline_role", placeholder: t("role"), "aria-label": t("role"), maxlength: 500 });
  const color = el("input", { class: "input-color", type: "color", name: "inline_color", value: PALETTE[(index + 2) % PALETTE.length], "aria-label": t("color") });
  const remove = el("button", { class: "icon-btn", type: "button", "aria-label": t("remove"), title: t("remove"), text: "✕", onclick: () => row.remove() });
  row.append(name, role, color, remove);
  document.getElementById("rf-inline").append(row);
  name.focus();
}

async function openCreate({ push = false } = {}) {
  closeObserver();
  state.room = null;
  form.reset();
  document.getElementById("rf-moderator-field").hidden = true;
  formError.hidden = true;
  document.getElementById("rf-inline").replaceChildren();
  try {
    state.templates = (await get("/api/agents/")) || [];
  } catch (error) {
    showError(error);
  }
  const templates = document.getElementById("rf-templates");
  templates.replaceChildren(
    ...state.templates.map((agent) => {
      const color = safeColor(agent.color);
      return el("label", { class: "check" }, el("input", { type: "checkbox", name: "template", value: agent.id }), el("span", { class: "swatch swatch-sm", style: { background: color }, "aria-hidden": "true" }), el("span", { text: agent.name }));
    }),
  );
  document.getElementById("rf-templates-empty").hidden = state.templates.length > 0;
  if (push) history.pushState({ create: true }, "", "/rooms/");
  renderList();
  show("create");
  document.getElementById("rf-title").focus();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  formError.hidden = true;
  const agents = [...form.querySelectorAll('input[name="template"]:checked')].map((box) => ({ agent_id: Number(box.value) }));
  for (const row of form.querySelectorAll(".inline-agent")) {
    const name = row.querySelector('[name="inline_name"]').value.trim();
    if (!name) continue;
    agents.push({ name, role: row.querySelector('[name="inline_role"]').value.trim(), color: row.querySelector('[name="inline_color"]').value });
  }
  if (!agents.length) {
    formError.textContent = t("pick_agents");
    formError.hidden = false;
    return;
  }
  const field = (name) => form.elements.namedItem(name);
  const body = {
    title: field("title").value.trim(),
    task: field("task").value.trim(),
    max_rounds: Number(field("max_rounds").value) || 3,
    agents,
  };
  // The team settings, sent only when they differ from the defaults.
  const policy = field("speaker_policy").value;
  if (policy !== "round_robin") body.speaker_policy = policy;
  if (policy === "moderator") body.moderator = field("moderator").value.trim();
  if (field("allow_repeated_speaker").checked) body.allow_repeated_speaker = true;
  if (field("human_turn").value !== "never") body.human_turn = field("human_turn").value;
  if (field("summarizer").value.trim()) body.summarizer = field("summarizer").value.trim();
  const termination = [];
  for (const name of ["max_messages", "token_budget", "timeout_seconds"]) {
    const raw = field(name).value.trim();
    if (raw) termination.push({ type: name, value: Number(raw) });
  }
  if (field("text_mention").value.trim()) termination.push({ type: "text_mention", value: field("text_mention").value.trim() });
  if (termination.length) body.termination = termination;
  try {
    const room = await post("/api/chat-rooms/", body);
    state.rooms.unshift(room);
    await openRoom(room.id, { push: true });
  } catch (error) {
    formError.textContent = error.message;
    formError.hidden = false;
  }
});

function agentNames() {
  const names = [...form.querySelectorAll('input[name="template"]:checked')].map((box) => state.templates.find((a) => String(a.id) === box.value)?.name).filter(Boolean);
  for (const row of form.querySelectorAll(".inline-agent")) {
    const name = row.querySelector('[name="inline_name"]').value.trim();
    if (name) names.push(name);
  }
  return names;
}

function refreshAgentNames() {
  document.getElementById("rf-agent-names").replaceChildren(...agentNames().map((name) => el("option", { value: name })));
}

document.getElementById("rf-policy").addEventListener("change", (event) => {
  document.getElementById("rf-moderator-field").hidden = event.target.value !== "moderator";
});
form.addEventListener("change", refreshAgentNames);
form.addEventListener("focusin", (event) => {
  if (event.target.getAttribute("list") === "rf-agent-names") refreshAgentNames();
});
composer.addEventListener("submit", speak);
composerInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) speak(event);
});
document.getElementById("rf-add-inline").addEventListener("click", inlineRow);
document.getElementById("new-room").addEventListener("click", () => openCreate({ push: true }));
for (const button of document.querySelectorAll("[data-toggle-list]")) button.addEventListener("click", () => setListOpen(!sidebar.classList.contains("open")));
scrim.addEventListener("click", () => setListOpen(false));
startButton.addEventListener("click", start);
stopButton.addEventListener("click", stop);
resetButton.addEventListener("click", reset);
deleteButton.addEventListener("click", removeRoom);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.room && state.room.status === "running" && !stopButton.disabled) stop();
});
window.addEventListener("popstate", () => {
  const match = location.pathname.match(/^\/rooms\/([^/]+)/);
  if (match) openRoom(decodeURIComponent(match[1]));
  else show("empty");
});

async function init() {
  await loadRooms();
  const initial = root.dataset.roomId;
  if (initial) await openRoom(initial);
  else {
    show("empty");
    root.dataset.ready = "true";
  }
}

init();
