// Small DOM helpers shared by the pages. User content always goes in as text.

/** Create an element: el("div", {class: "x", "aria-label": "y"}, child, "text", ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(node.style, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Static, trusted SVG markup (never user content).
const ICONS = {
  edit: '<path d="M4 20h4L19 9l-4-4L4 16z"/><path d="M13.5 6.5l4 4"/>',
  trash: '<path d="M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3"/>',
  logo: '<path d="M12 2.5l2.4 6.1 6.1 2.4-6.1 2.4-2.4 6.1-2.4-6.1L3.5 11l6.1-2.4z"/>',
  close: '<path d="M6 6l12 12M18 6L6 18"/>',
  file: '<path d="M14 3H6v18h12V7z"/><path d="M14 3v4h4"/>',
};

export function icon(name, size = 16) {
  const span = document.createElement("span");
  span.innerHTML = `<svg class="icon" viewBox="0 0 24 24" width="${size}" height="${size}" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">${ICONS[name] || ""}</svg>`;
  return span.firstElementChild;
}

export function toast(message, { error = false, timeout = 4000 } = {}) {
  const holder = document.getElementById("toasts");
  if (!holder) return;
  const node = el("div", { class: error ? "toast toast-error" : "toast", role: error ? "alert" : "status", text: message });
  holder.append(node);
  setTimeout(() => node.remove(), timeout);
}

/** Show an error's plain words. */
export function showError(error) {
  if (error && error.name === "AbortError") return;
  console.error(error);
  toast(error && error.message ? error.message : String(error), { error: true, timeout: 6000 });
}

export function formatBytes(size) {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KB`;
  return `${(size / 1024 / 1024).toFixed(1)} MB`;
}

/** Text colour readable on a background colour like #10b981. */
export function contrastText(hex) {
  const value = (hex || "#888888").replace("#", "");
  const full = value.length === 3 ? value.split("").map((c) => c + c).join("") : value.padEnd(6, "8");
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(full.slice(i, i + 2), 16));
  return 0.299 * r + 0.587 * g + 0.114 * b > 160 ? "#18181b" : "#ffffff";
}

export function safeColor(value, fallback = "#71717a") {
  return /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(value || "") ? value : fallback;
}

/** Fill a <select> with options [{value, label}]. */
export function fillSelect(select, options, selected) {
  select.replaceChildren(...options.map((o) => el("option", { value: o.value, selected: String(o.value) === String(selected) }, o.label)));
}

export function confirmAction(message) {
  return window.confirm(message);
}
