// Settings: model providers (add from presets, test, make default, edit, delete) and the
// user's profile. The API key field is write-only: never prefilled, never shown.

import { del, get, post, put } from "./api.js";
import { lang, t } from "./i18n.js";
import { el, showError, toast } from "./ui.js";

const list = document.getElementById("provider-list");
const form = document.getElementById("provider-form");
const formError = document.getElementById("provider-form-error");
const submitButton = document.getElementById("provider-submit");
const cancelButton = document.getElementById("provider-cancel");
const versionField = document.getElementById("pf-version-field");
const formTitle = document.getElementById("provider-form-title");
const initialFormTitle = formTitle.textContent;

const PRESETS = {
  openai: { name: "OpenAI", provider_type: "openai", base_url: "https://api.openai.com/v1", default_model: "gpt-4o-mini" },
  deepseek: { name: "DeepSeek", provider_type: "openai", base_url: "https://api.deepseek.com/v1", default_model: "deepseek-chat" },
  anthropic: { name: "Anthropic", provider_type: "anthropic", base_url: "https://api.anthropic.com", default_model: "claude-sonnet-4-20250514" },
  azure: { name: "Azure OpenAI", provider_type: "azure", base_url: "https://YOUR-RESOURCE.openai.azure.com", default_model: "your-deployment", api_version: "2024-06-01" },
  ollama: { name: "Ollama", provider_type: "openai", base_url: "http://localhost:11434/v1", default_model: "llama3.1", api_key: "ollama" },
  fake: { name: "Fake LLM", provider_type: "openai", base_url: "http://127.0.0.1:8001/v1", default_model: "fake-model", api_key: "fake" },
};

let providers = [];
// Whether the user ticked or cleared "default" in this form: the provider list can arrive
// after they did, and must not undo it.
let defaultChosen = false;

function field(name) {
  return form.elements.namedItem(name);
}

function syncVersionField() {
  versionField.hidden = field("provider_type").value !== "azure";
}

function fillForm(values) {
  for (const name of ["name", "provider_type", "base_url", "default_model", "api_version"]) field(name).value = values[name] ?? (name === "provider_type" ? "openai" : "");
  field("api_key").value = values.api_key || "";
  syncVersionField();
}

function resetForm() {
  form.reset();
  defaultChosen = false;
  field("id").value = "";
  field("api_key").placeholder = "";
  submitButton.textContent = t("add_provider");
  formTitle.textContent = initialFormTitle;
  cancelButton.hidden = true;
  formError.hidden = true;
  preferDefaultForFirst();
  syncVersionField();
}

// The API honours an explicit is_default: false, so a user's first provider is offered
// as the default here rather than left unchecked by accident.
function preferDefaultForFirst() {
  if (!field("id").value && !defaultChosen) field("is_default").checked = !providers.some((p) => !p.is_shared);
}

function editProvider(provider) {
  resetForm();
  fillForm(provider);
  field("id").value = provider.id;
  field("is_default").checked = provider.is_default;
  field("api_key").placeholder = provider.has_api_key ? t("key_placeholder_keep") : "";
  submitButton.textContent = t("save");
  formTitle.textContent = `${t("edit_provider")}: ${provider.name}`;
  cancelButton.hidden = false;
  form.scrollIntoView({ behavior: "smooth", block: "center" });
  field("name").focus();
}

function providerCard(provider) {
  const testResult = el("div", { class: "test-result muted", "aria-live": "polite" });
  const testButton = el("button", { class: "btn btn-secondary btn-small", type: "button", text: t("test_connection") });
  testButton.addEventListener("click", async () => {
    testButton.disabled = true;
    testResult.className = "test-result muted";
    testResult.textContent = t("testing");
    try {
      const result = await post(`/api/providers/${provider.id}/test`);
      testResult.className = result.success ? "test-result test-ok" : "test-result test-fail";
      // The outcome in plain words (translated by the server); the raw answer on hover.
      testResult.textContent = `${result.success ? "✓" : "✗"} ${result.summary}`;
      testResult.title = result.response_body || "";
    } catch (error) {
      testResult.className = "test-result test-fail";
      testResult.textContent = error.message;
    } finally {
      testButton.disabled = false;
    }
  });
  const actions = el("div", { class: "item-card-actions" }, testButton);
  const own = !provider.is_shared;
  if (!provider.is_default && own) {
    actions.append(
      el("button", {
        class: "btn btn-ghost btn-small",
        type: "button",
        text: t("make_default"),
        onclick: async () => {
          try {
            await put(`/api/providers/${provider.id}`, { is_default: true });
            await load();
          } catch (error) {
            showError(error);
          }
        },
      }),
    );
  }
  if (own) {
    actions.append(el("button", { class: "btn btn-ghost btn-small", type: "button", text: t("edit"), "aria-label": `${t("edit")}: ${provider.name}`, onclick: () => editProvider(provider) }));
    if (provider.has_api_key) {
      // An empty api_key clears the saved key (PUT /api/providers/{id}); omitting it keeps it.
      actions.append(
        el("button", {
          class: "btn btn-ghost btn-small remove-key",
          type: "button",
          text: t("remove_key"),
          "aria-label": `${t("remove_key")}: ${provider.name}`,
          onclick: async () => {
            if (!window.confirm(t("confirm_remove_key"))) return;
            try {
              await put(`/api/providers/${provider.id}`, { api_key: "" });
              toast(t("key_removed"));
              await load();
            } catch (error) {
              showError(error);
            }
          },
        }),
      );
    }
    actions.append(
      el("button", {
        class: "btn btn-danger btn-small",
        type: "button",
        text: t("delete"),
        "aria-label": `${t("delete")}: ${provider.name}`,
        onclick: async () => {
          if (!window.confirm(t("confirm_delete_provider"))) return;
          try {
            await del(`/api/providers/${provider.id}`);
            await load();
          } catch (error) {
            showError(error);
          }
        },
      }),
    );
  }
  return el(
    "article",
    { class: "item-card provider-card", dataset: { providerId: provider.id }, "aria-label": provider.name },
    el("div", { class: "item-card-head" }, el("div", { class: "item-card-title", text: provider.name })),
    el("div", { class: "item-card-sub", text: provider.base_url || "—" }),
    el(
      "div",
      { class: "item-card-meta" },
      el("span", { class: "badge", text: provider.provider_type }),
      provider.default_model ? el("span", { class: "badge", text: provider.default_model }) : null,
      provider.is_default ? el("span", { class: "badge badge-info", text: t("is_default") }) : null,
      el("span", { class: provider.has_api_key ? "badge badge-success" : "badge", text: provider.has_api_key ? t("has_key") : t("no_key") }),
      provider.is_shared ? el("span", { class: "badge", text: t("shared") }) : null,
    ),
    testResult,
    actions,
  );
}

async function load() {
  try {
    const data = await get("/api/providers/");
    providers = data.providers || [];
    preferDefaultForFirst();
    list.replaceChildren(...(providers.length ? providers.map(providerCard) : [el("p", { class: "empty", text: t("no_providers") })]));
  } catch (error) {
    list.replaceChildren(el("p", { class: "alert alert-error", text: error.message }));
  }
  list.dataset.ready = "true";
}

async function loadProfile() {
  try {
    const me = await get("/api/auth/me");
    const profile = document.getElementById("profile");
    const set = (name, value) => {
      const node = profile.querySelector(`[data-field="${name}"]`);
      if (node) node.textContent = value;
    };
    set("username", me.username);
    set("email", me.email);
    set("role", t(`role_${me.role}`));
    set("permission_level", `${me.permission_level} · ${t(`level_${me.permission_level}`)}`);
    if (me.created_at) set("created_at", new Date(me.created_at).toLocaleDateString(lang));
  } catch (error) {
    showError(error);
  }
}

field("is_default").addEventListener("change", () => {
  defaultChosen = true;
});

for (const button of document.querySelectorAll("[data-preset]")) {
  button.addEventListener("click", () => {
    const id = field("id").value;
    fillForm(PRESETS[button.dataset.preset]);
    field("id").value = id;
    field("name").focus();
  });
}

field("provider_type").addEventListener("change", syncVersionField);
cancelButton.addEventListener("click", resetForm);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  formError.hidden = true;
  const id = field("id").value;
  const body = {
    name: field("name").value.trim(),
    provider_type: field("provider_type").value,
    base_url: field("base_url").value.trim(),
    default_model: field("default_model").value.trim(),
    is_default: field("is_default").checked,
  };
  if (body.provider_type === "azure") body.api_version = field("api_version").value.trim();
  const key = field("api_key").value.trim();
  if (key) body.api_key = key;
  submitButton.disabled = true;
  try {
    if (id) await put(`/api/providers/${id}`, body);
    else await post("/api/providers/", body);
    toast(t("provider_saved"));
    resetForm();
    await load();
  } catch (error) {
    formError.textContent = error.message;
    formError.hidden = false;
  } finally {
    submitButton.disabled = false;
  }
});

syncVersionField();
Promise.all([load(), loadProfile()]).then(() => (document.getElementById("settings").dataset.ready = "true"));
