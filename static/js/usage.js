// Usage: totals, a chart of tokens (bars) and cost (line) per day or month, usage per
// model, and the caller's limits with what is used of them. Data from GET /api/usage/.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { get } from "./api.js";
import { lang } from "./i18n.js";
import { el, showError } from "./ui.js";

const strings = JSON.parse(document.getElementById("usage-strings").textContent);
const periodSelect = document.getElementById("usage-period");
const totalsBox = document.getElementById("usage-totals");
const chartBox = document.getElementById("usage-chart");
const modelRows = document.getElementById("usage-models");
const limitList = document.getElementById("usage-limits");
let chart = null;

function s(key, params = {}) {
  const template = strings[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

const numberFormat = new Intl.NumberFormat(lang);

function money(value, currency) {
  const digits = value !== 0 && Math.abs(value) < 0.01 ? 6 : 2;
  return `${value.toFixed(digits)} ${currency}`;
}

/** Every period of the window, oldest first (the API lists only periods with usage). */
function periods(data) {
  const out = [];
  const start = new Date(`${data.from}T00:00:00Z`);
  const end = new Date(`${data.to}T00:00:00Z`);
  const cursor = new Date(start);
  if (data.period === "month") cursor.setUTCDate(1);
  while (cursor <= end && out.length < 400) {
    out.push(cursor.toISOString().slice(0, 10));
    if (data.period === "month") cursor.setUTCMonth(cursor.getUTCMonth() + 1);
    else cursor.setUTCDate(cursor.getUTCDate() + 1);
  }
  return out;
}

function renderTotals(data) {
  const totals = data.totals;
  const tile = (label, value, detail) =>
    el("div", { class: "card usage-tile" }, el("div", { class: "usage-tile-label", text: label }), el("div", { class: "usage-tile-value", text: value }), detail ? el("div", { class: "usage-tile-detail muted", text: detail }) : null);
  totalsBox.replaceChildren(
    tile(
      s("tokens"),
      numberFormat.format(totals.total_tokens),
      `${s("prompt")} ${numberFormat.format(totals.prompt_tokens)} · ${s("completion")} ${numberFormat.format(totals.completion_tokens)} · ${s("cached")} ${numberFormat.format(totals.cached_tokens)}`,
    ),
    tile(s("cost"), money(totals.cost, data.currency), totals.unpriced_calls ? s("unpriced", { n: totals.unpriced_calls }) : ""),
    tile(s("calls"), numberFormat.format(totals.calls)),
  );
}

function renderChart(data) {
  const days = periods(data);
  const byDate = new Map(data.series.map((point) => [point.date, point]));
  const xs = days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000);
  const tokens = days.map((day) => byDate.get(day)?.total_tokens ?? 0);
  const costs = days.map((day) => byDate.get(day)?.cost ?? 0);
  chart?.destroy();
  chartBox.replaceChildren();
  const text = getComputedStyle(document.documentElement).getPropertyValue("--text-muted").trim() || "#71717a";
  const axis = { stroke: text, grid: { stroke: "rgba(128,128,128,0.15)" }, ticks: { stroke: "rgba(128,128,128,0.3)" } };
  chart = new uPlot(
    {
      width: Math.max(280, chartBox.clientWidth - 24),
      height: 260,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      series: [
        {},
        { label: s("tokens"), stroke: "#10b981", fill: "rgba(16, 185, 129, 0.35)", paths: uPlot.paths.bars({ size: [0.7, 40] }), scale: "tokens", value: (u, v) => (v == null ? "" : numberFormat.format(v)) },
        { label: s("cost"), stroke: "#6366f1", width: 2, scale: "cost", value: (u, v) => (v == null ? "" : money(v, data.currency)) },
      ],
      axes: [{ ...axis }, { ...axis, scale: "tokens" }, { ...axis, scale: "cost", side: 1, grid: { show: false } }],
      scales: { x: { time: true }, tokens: { range: (u, min, max) => [0, Math.max(1, max)] }, cost: { range: (u, min, max) => [0, Math.max(0.01, max)] } },
    },
    [xs, tokens, costs],
    chartBox,
  );
}

function renderModels(data) {
  if (!data.models.length) {
    modelRows.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "muted", text: s("no_usage") })));
    return;
  }
  modelRows.replaceChildren(
    ...data.models.map((row) =>
      el(
        "tr",
        {},
        el("td", { text: row.model || "—" }),
        el("td", { text: row.provider_name || "—" }),
        el("td", { text: numberFormat.format(row.calls) }),
        el("td", { text: numberFormat.format(row.total_tokens) }),
        el("td", { text: money(row.cost, data.currency) }),
      ),
    ),
  );
}

function renderLimits(data) {
  if (!data.limits.length) {
    limitList.replaceChildren(el("li", { class: "muted", text: s("no_limits") }));
    return;
  }
  const format = (limit, value) => (limit.name.startsWith("cost_") ? money(value, data.currency) : numberFormat.format(value));
  limitList.replaceChildren(
    ...data.limits.map((limit) => {
      const parts = [s("limit_used", { used: format(limit, limit.used), value: format(limit, limit.value) })];
      if (limit.resets_at) parts.push(s("limit_resets", { at: new Date(limit.resets_at).toLocaleString(lang) }));
      const share = limit.value > 0 ? Math.min(100, (100 * limit.used) / limit.value) : 100;
      const bar = el("progress", { class: "usage-limit-bar", max: 100, value: Math.round(share) });
      return el("li", { class: "card usage-limit", dataset: { limit: limit.name } }, el("strong", { text: s(`limit_${limit.name}`) }), el("span", { text: parts.join(" · ") }), bar);
    }),
  );
}

async function load() {
  try {
    const data = await get(`/api/usage/?period=${encodeURIComponent(periodSelect.value)}`);
    renderTotals(data);
    renderChart(data);
    renderModels(data);
    renderLimits(data);
  } catch (error) {
    showError(error);
  }
}

periodSelect.addEventListener("change", load);
window.addEventListener("resize", () => chart?.setSize({ width: Math.max(280, chartBox.clientWidth - 24), height: 260 }));
load();
