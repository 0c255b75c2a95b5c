// Translated strings rendered by the server into the page (luxx/pages.py JS_STRINGS).

const node = document.getElementById("luxx-strings");
const strings = node ? JSON.parse(node.textContent) : {};

/** The translated string for `key`, with `{name}` placeholders filled from `params`. */
export function t(key, params = {}) {
  const template = strings[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

export const currentUser = (() => {
  const userNode = document.getElementById("luxx-user");
  return userNode ? JSON.parse(userNode.textContent) : null;
})();

export const lang = document.documentElement.lang || "en";

/** The translated name of a permission level (1 read only … 4 administrator). */
export function levelName(level, fallback = "") {
  const key = `level_${level}`;
  return key in strings ? t(key) : fallback || String(level);
}
