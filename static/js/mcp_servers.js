// Settings: MCP servers (add, edit, refresh their tools, delete), the address of Luxx's
// own MCP endpoint and the personal tokens for MCP clients. Headers and environment
// variables are write-only: the form never shows them, a card shows their names only; a
// token is shown once, when made.

import { del, get, post, put } from "./api.js";
import { currentUser, lang, levelName, t } from "./i18n.js";
import { el, showError, toast } from "./ui.js";

const section = document.getElementById("mcp-section");
const list = document.getElementById("mcp-list");
const form = document.getElementById("mcp-form");
const formError = document.getElementById("mcp-form-error");
const formTitle = document.getElementById("mcp-form-title");
const submitButton = document.getElementById("mcp-submit");
const cancelButton = document.getElementById("mcp-cancel");
const initialTitle = formTitle.textContent;
const isAdmin = currentUser && currentUser.role === "admin";

document.getElementById("mcp-endpoint").textContent = `${location.origin}/mcp`;

function field(name) {
  return form.elements.namedItem(name);
}

function transport() {
  return field("transport") ? field("transport").value : "http";
}

function syncTransport() {
  for (const part of form.querySelectorAll("[data-transport]")) part.hidden = part.dataset.transport !== transport();
}

/** "Name: value" (headers) or "NAME=value" (environment) lines as an object. */
function parseLines(text, separator, label, example) {
  const result = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const at = line.indexOf(separator);
    if (at <= 0) throw new Error(t("mcp_bad_line", { field: label, example }));
    result[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return result;
}

function resetForm() {
  form.reset();
  field("id").value = "";
  field("headers").placeholder = "Authorization: Bearer …";
  if (field("env")) field("env").placeholder = "";
  submitButton.textContent = t("mcp_add");
  formTitle.textContent = initialTitle;
  cancelButton.hidden = true;
  formError.hidden = true;
  field("name").disabled = false;
  if (field("shared")) field("shared").disabled = false;
  syncTransport();
}

function editServer(server) {
  resetForm();
  field("id").value = server.id;
  field("name").value = server.name;
  if (field("transport")) field("transport").value = server.transport;
  field("url").value = server.url || "";
  field("timeout_seconds").value = server.timeout_seconds;
  field("enabled").checked = server.enabled;
  if (server.header_names.length) field("headers").placeholder = t("mcp_keep_secret");
  if (isAdmin) {
    field("command").value = server.command || "";
    field("args").value = (server.args || []).join("\n");
    field("network").checked = server.network;
    field("required_level").value = String(server.required_level);
    field("shared").checked = server.is_shared;
    field("shared").disabled = true;
    if (server.env_names.length) field("env").placeholder = t("mcp_keep_secret");
  }
  submitButton.textContent = t("save");
  formTitle.textContent = `${t("mcp_edit")}: ${server.name}`;
  cancelButton.hidden = false;
  form.scrollIntoView({ behavior: "smooth", block: "center" });
  field("name").focus();
}

function statusBadge(server) {
  const kind = { ok: "badge badge-success", down: "badge badge-danger" }[server.status] || "badge";
  return el("span", { class: kind, text: t(`mcp_status_${server.status}`) });
}

function canChange(server) {
  return !server.is_shared || isAdmin;
}

async function refresh(server, button, note) {
  button.disabled = true;
  note.textContent = t("mcp_refreshing");
  try {
    const report = await post(`/api/mcp-servers/${server.id}/refresh`);
    if (report.error) showError(new Error(report.error));
    else toast(t("mcp_found_n", { name: server.name, n: report.tools.length }));
    await load();
  } catch (error) {
    showError(error);
    button.disabled = false;
    note.textContent = "";
  }
}

function serverCard(server) {
  const note = el("div", { class: "test-result muted", "aria-live": "polite" });
  const actions = el("div", { class: "item-card-actions" });
  if (canChange(server)) {
    const refreshButton = el("button", { class: "btn btn-secondary btn-small", type: "button", text: t("mcp_refresh"), "aria-label": `${t("mcp_refresh")}: ${server.name}` });
    refreshButton.addEventListener("click", () => refresh(server, refreshButton, note));
    actions.append(
      refreshButton,
      el("button", { class: "btn btn-ghost btn-small", type: "button", text: t("edit"), "aria-label": `${t("edit")}: ${server.name}`, onclick: () => editServer(server) }),
      el("button", {
        class: "btn btn-danger btn-small",
        type: "button",
        text: t("delete"),
        "aria-label": `${t("delete")}: ${server.name}`,
        onclick: async () => {
          if (!window.confirm(t("mcp_confirm_delete"))) return;
          try {
            await del(`/api/mcp-servers/${server.id}`);
            await load();
          } catch (error) {
            showError(error);
          }
        },
      }),
    );
  }
  const target = server.transport === "http" ? server.url : [server.command, ...(server.args || [])].join(" ");
  const secrets = [
    server.header_names.length ? t("mcp_headers_saved", { names: server.header_names.join(", ") }) : "",
    server.env_names.length ? t("mcp_env_saved", { names: server.env_names.join(", ") }) : "",
  ].filter(Boolean);
  const tools = el(
    "details",
    { class: "mcp-tools" },
    el("summary", { text: t("mcp_tools_n", { n: server.tool_count }) }),
    el("ul", { class: "tool-list" }, ...server.tools.map((tool) => el("li", {}, el("code", { text: tool.name }), tool.description ? ` — ${tool.description}` : ""))),
  );
  return el(
    "article",
    { class: "item-card mcp-card", dataset: { serverId: server.id, status: server.status }, "aria-label": server.name },
    el("div", { class: "item-card-head" }, el("div", { class: "item-card-title", text: server.name })),
    el("div", { class: "item-card-sub", text: target || "—" }),
    el(
      "div",
      { class: "item-card-meta" },
      el("span", { class: "badge", text: server.transport }),
      statusBadge(server),
      server.enabled ? null : el("span", { class: "badge badge-warning", text: t("mcp_disabled") }),
      el("span", { class: "badge", text: t("mcp_level", { level: levelName(server.required_level, server.required_level_name) }) }),
      server.network ? el("span", { class: "badge", text: t("mcp_network") }) : null,
      server.is_shared ? el("span", { class: "badge", text: t("shared") }) : null,
    ),
    secrets.length ? el("div", { class: "item-card-sub muted", text: secrets.join(" · ") }) : null,
    server.status === "down" && server.last_error ? el("div", { class: "test-result test-fail", text: server.last_error }) : null,
    tools,
    note,
    actions,
  );
}

async function load() {
  try {
    const data = await get("/api/mcp-servers/");
    const servers = data.servers || [];
    list.replaceChildren(...(servers.length ? servers.map(serverCard) : [el("p", { class: "empty", text: t("no_mcp_servers") })]));
  } catch (error) {
    list.replaceChildren(el("p", { class: "alert alert-error", text: error.message }));
  }
}

function bodyFromForm(editing) {
  const body = {
    name: field("name").value.trim(),
    timeout_seconds: Number(field("timeout_seconds").value || 30),
    enabled: field("enabled").checked,
  };
  if (isAdmin) {
    body.transport = transport();
    body.required_level = Number(field("required_level").value);
    if (!editing && field("shared").checked) body.shared = true;
  }
  if (transport() === "http") {
    body.url = field("url").value.trim();
    const headers = field("headers").value;
    if (headers.trim()) body.headers = parseLines(headers, ":", t("mcp_headers_label"), "Authorization: Bearer …");
  } else {
    body.command = field("command").value.trim();
    body.args = field("args").value.split("\n").map((line) => line.trim()).filter(Boolean);
    body.network = field("network").checked;
    const env = field("env").value;
    if (env.trim()) body.env = parseLines(env, "=", t("mcp_env_label"), "API_TOKEN=…");
  }
  return body;
}

if (field("transport")) field("transport").addEventListener("change", syncTransport);
cancelButton.addEventListener("click", resetForm);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  formError.hidden = true;
  const id = field("id").value;
  submitButton.disabled = true;
  try {
    const body = bodyFromForm(Boolean(id));
    const report = id ? await put(`/api/mcp-servers/${id}`, body) : await post("/api/mcp-servers/", body);
    if (report.error) showError(new Error(report.error));
    else toast(t("mcp_saved"));
    resetForm();
    await load();
  } catch (error) {
    formError.textContent = error.message;
    formError.hidden = false;
  } finally {
    submitButton.disabled = false;
  }
});

// --- tokens for MCP clients -------------------------------------------------------------

const tokenList = document.getElementById("mcp-token-list");
const tokenForm = document.getElementById("mcp-token-form");
const tokenError = document.getElementById("mcp-token-error");
const tokenNew = document.getElementById("mcp-token-new");
const tokenValue = document.getElementById("mcp-token-value");

function when(value) {
  return value ? new Date(value).toLocaleDateString(lang) : t("mcp_never");
}

function tokenRow(token) {
  return el(
    "div",
    { class: "item-card mcp-token", dataset: { tokenId: token.id }, "aria-label": token.name },
    el("div", { class: "item-card-head" }, el("div", { class: "item-card-title", text: token.name }), el("code", { text: `${token.prefix}…` })),
    el("div", { class: "item-card-sub muted", text: t("mcp_token_meta", { created: when(token.created_at), used: when(token.last_used_at), expires: when(token.expires_at) }) }),
    el(
      "div",
      { class: "item-card-actions" },
      el("button", {
        class: "btn btn-danger btn-small",
        type: "button",
        text: t("mcp_revoke"),
        "aria-label": `${t("mcp_revoke")}: ${token.name}`,
        onclick: async () => {
          if (!window.confirm(t("mcp_confirm_revoke"))) return;
          try {
            await del(`/api/mcp-tokens/${token.id}`);
            await loadTokens();
          } catch (error) {
            showError(error);
          }
        },
      }),
    ),
  );
}

async function loadTokens() {
  try {
    const data = await get("/api/mcp-tokens/");
    const tokens = data.tokens || [];
    tokenList.replaceChildren(...(tokens.length ? tokens.map(tokenRow) : [el("p", { class: "muted", text: t("no_mcp_tokens") })]));
  } catch (error) {
    tokenList.replaceChildren(el("p", { class: "alert alert-error", text: error.message }));
  }
}

tokenForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  tokenError.hidden = true;
  const days = tokenForm.elements.namedItem("expires_in_days").value;
  const body = { name: tokenForm.elements.namedItem("name").value.trim(), expires_in_days: days ? Number(days) : null };
  try {
    const made = await post("/api/mcp-tokens/", body);
    tokenValue.value = made.token;
    tokenNew.hidden = false;
    tokenForm.reset();
    await loadTokens();
  } catch (error) {
    tokenError.textContent = error.message;
    tokenError.hidden = false;
  }
});

document.getElementById("mcp-token-copy").addEventListener("click", async () => {
  tokenValue.select();
  try {
    await navigator.clipboard.writeText(tokenValue.value);
    toast(t("mcp_copied"));
  } catch {
    document.execCommand("copy");
  }
});

syncTransport();
Promise.all([load(), loadTokens()]).then(() => (section.dataset.ready = "true"));
