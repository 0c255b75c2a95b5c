// Agents: list, create, edit, delete, and start a chat with one.

import { del, get, post, put } from "./api.js";
import { t } from "./i18n.js";
import { toolOptions } from "./tools.js";
import { contrastText, el, fillSelect, safeColor, showError, toast } from "./ui.js";

const list = document.getElementById("agent-list");
const dialog = document.getElementById("agent-dialog");
const form = document.getElementById("agent-form");
const formError = document.getElementById("agent-form-error");
const dialogTitle = document.getElementById("agent-dialog-title");
const toolsNode = document.getElementById("af-tools");

let agents = [];
let providers = [];
let tools = [];

const field = (name) => form.elements.namedItem(name);

function agentCard(agent) {
  const color = safeColor(agent.color);
  const providerName = (providers.find((p) => p.id === agent.provider_id) || {}).name;
  const chatButton = el("button", { class: "btn btn-primary btn-small", type: "button", text: t("agent_chat"), "aria-label": `${t("agent_chat")}: ${agent.name}` });
  chatButton.addEventListener("click", async () => {
    chatButton.disabled = true;
    try {
      const conversation = await post("/api/conversations/", { agent_id: agent.id });
      location.assign(`/c/${conversation.id}`);
    } catch (error) {
      chatButton.disabled = false;
      showError(error);
    }
  });
  return el(
    "article",
    { class: "item-card agent-card", dataset: { agentId: agent.id }, "aria-label": agent.name },
    el(
      "div",
      { class: "item-card-head" },
      el("span", { class: "swatch", style: { background: color, color: contrastText(color) }, "aria-hidden": "true", text: (agent.name || "?").slice(0, 1).toUpperCase() }),
      el("div", { style: { minWidth: 0 } }, el("div", { class: "item-card-title agent-name", text: agent.name }), el("div", { class: "item-card-sub", text: agent.role || "" })),
    ),
    el(
      "div",
      { class: "item-card-meta" },
      providerName ? el("span", { class: "badge", text: providerName }) : null,
      agent.model ? el("span", { class: "badge", text: agent.model }) : null,
      (agent.enabled_tools || []).length ? el("span", { class: "badge badge-info", text: t("tools_count", { n: agent.enabled_tools.length }) }) : null,
    ),
    agent.system_prompt ? el("div", { class: "item-card-sub muted", style: { display: "-webkit-box", WebkitLineClamp: "2", WebkitBoxOrient: "vertical", overflow: "hidden" }, text: agent.system_prompt }) : null,
    el(
      "div",
      { class: "item-card-actions" },
      chatButton,
      el("button", { class: "btn btn-secondary btn-small", type: "button", text: t("edit"), "aria-label": `${t("edit")}: ${agent.name}`, onclick: () => openDialog(agent) }),
      el("button", { class: "btn btn-danger btn-small", type: "button", text: t("delete"), "aria-label": `${t("delete")}: ${agent.name}`, onclick: () => removeAgent(agent) }),
    ),
  );
}

function render() {
  list.replaceChildren(...(agents.length ? agents.map(agentCard) : [el("p", { class: "empty", text: t("no_agents") })]));
}

function renderToolChecks(selected) {
  // Described as in the chat's tools panel; a tool the agent already has stays checkable
  // even when it can no longer be chosen, so that saving does not drop it silently.
  toolsNode.replaceChildren(...toolOptions(tools, new Set(selected), { name: "tools", idPrefix: "af-tool", keepSelected: true }));
}

function openDialog(agent = null) {
  form.reset();
  formError.hidden = true;
  dialogTitle.textContent = agent ? `${t("edit_agent")}: ${agent.name}` : t("new_agent");
  field("id").value = agent ? agent.id : "";
  field("name").value = agent ? agent.name : "";
  field("role").value = agent ? agent.role : "";
  field("model").value = agent ? agent.model : "";
  field("system_prompt").value = agent ? agent.system_prompt : "";
  field("color").value = safeColor(agent && agent.color, "#10b981");
  const defaultProvider = providers.find((p) => p.is_default);
  fillSelect(field("provider_id"), [{ value: "", label: t("default_model") }, ...providers.map((p) => ({ value: p.id, label: `${p.name} (${p.default_model || "—"})` }))], agent ? agent.provider_id ?? "" : defaultProvider ? defaultProvider.id : "");
  renderToolChecks(agent ? agent.enabled_tools || [] : []);
  dialog.showModal();
  field("name").focus();
}

async function removeAgent(agent) {
  if (!window.confirm(t("confirm_delete_agent"))) return;
  try {
    await del(`/api/agents/${agent.id}`);
    agents = agents.filter((a) => a.id !== agent.id);
    render();
  } catch (error) {
    showError(error);
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  formError.hidden = true;
  const id = field("id").value;
  const providerId = field("provider_id").value;
  const body = {
    name: field("name").value.trim(),
    role: field("role").value.trim(),
    model: field("model").value.trim(),
    system_prompt: field("system_prompt").value,
    color: field("color").value,
    provider_id: providerId ? Number(providerId) : null,
    enabled_tools: [...form.querySelectorAll('input[name="tools"]:checked')].map((box) => box.value),
  };
  try {
    const saved = id ? await put(`/api/agents/${id}`, body) : await post("/api/agents/", body);
    const index = agents.findIndex((a) => a.id === saved.id);
    if (index >= 0) agents[index] = saved;
    else agents.push(saved);
    render();
    dialog.close();
    toast(t("agent_saved"));
  } catch (error) {
    formError.textContent = error.message;
    formError.hidden = false;
  }
});

for (const button of dialog.querySelectorAll("[data-close]")) button.addEventListener("click", () => dialog.close());
document.getElementById("new-agent").addEventListener("click", () => openDialog());

async function init() {
  try {
    const [agentData, providerData, toolData] = await Promise.all([get("/api/agents/"), get("/api/providers/"), get("/api/tools/")]);
    agents = agentData || [];
    providers = (providerData.providers || []).filter((p) => p.enabled);
    tools = toolData.tools || [];
    render();
  } catch (error) {
    list.replaceChildren(el("p", { class: "alert alert-error", text: error.message }));
  }
  document.getElementById("agents").dataset.ready = "true";
}

init();
