// The tool choice, as the chat's panel and the agent dialog both show it: grouped by
// category, each tool with its description, and the reason when it cannot be chosen.

import { levelName, t } from "./i18n.js";
import { el } from "./ui.js";

/** Why a tool cannot be chosen here ("" when it can). */
export function toolReason(tool) {
  if (!tool.allowed) return t("tool_not_allowed", { level: levelName(tool.required_level, tool.required_level_name) });
  if (tool.available === false) return t("tool_unavailable", { reason: tool.unavailable_reason || "" });
  return "";
}

export function toolUsable(tool) {
  return tool.allowed && tool.available !== false;
}

function categoryLabel(category) {
  const label = t(`category_${category}`);
  return label === `category_${category}` ? category : label;
}

/**
 * Checkbox rows for `tools`, grouped by category. `selected` is a Set of names; `name` is
 * the checkboxes' name; `idPrefix` keeps the description ids unique in the page;
 * `keepSelected` leaves a chosen tool that may no longer be chosen checkable, so that
 * saving an agent does not silently drop it; `onChange(name, checked)` follows the boxes.
 */
export function toolOptions(tools, selected, { name = "tool", idPrefix = "tool", keepSelected = false, onChange = null } = {}) {
  const byCategory = new Map();
  for (const tool of tools) {
    if (!byCategory.has(tool.category)) byCategory.set(tool.category, []);
    byCategory.get(tool.category).push(tool);
  }
  const nodes = [];
  for (const [category, group] of byCategory) {
    nodes.push(el("div", { class: "tool-group-title", dataset: { category }, text: categoryLabel(category) }));
    for (const tool of group) {
      const usable = toolUsable(tool);
      const reason = toolReason(tool);
      const checked = selected.has(tool.name);
      const nameId = `${idPrefix}-name-${tool.name}`;
      const descId = `${idPrefix}-desc-${tool.name}`;
      // Named by the tool's name alone; the description and the reason describe it.
      const box = el("input", { type: "checkbox", name, value: tool.name, checked, disabled: !usable && !(keepSelected && checked), "aria-labelledby": nameId, "aria-describedby": reason ? `${descId} ${descId}-reason` : descId });
      if (onChange) box.addEventListener("change", () => onChange(tool.name, box.checked));
      nodes.push(
        el(
          "label",
          { class: usable ? "tool-option" : "tool-option disabled", title: reason || null, dataset: { tool: tool.name } },
          box,
          el(
            "span",
            {},
            el("span", { class: "tool-option-name", id: nameId, text: tool.name }),
            el("span", { class: "tool-option-desc", id: descId, text: tool.description }),
            reason ? el("span", { class: "tool-option-reason", id: `${descId}-reason`, text: reason }) : null,
          ),
        ),
      );
    }
  }
  return nodes.length ? nodes : [el("p", { class: "muted", text: t("tools_none") })];
}
