// The theme switch: as the system (the default), light or dark, remembered in this
// browser. base.html applies a remembered choice before the first paint; this module
// keeps the switch's label and the code highlighting's stylesheet in step.

const KEY = "luxx.theme";
const MODES = ["system", "light", "dark"];

function stored() {
  try {
    const value = localStorage.getItem(KEY);
    return MODES.includes(value) ? value : "system";
  } catch {
    return "system"; // storage refused (a locked-down browser): follow the system
  }
}

/** Apply a mode to the page: data-theme on <html> (none for the system's), and the
 * highlight.js stylesheet of the scheme in use. */
export function applyTheme(mode) {
  const root = document.documentElement;
  if (mode === "system") delete root.dataset.theme;
  else root.dataset.theme = mode;
  for (const link of document.querySelectorAll("link[data-hljs]")) {
    link.media = mode === "system" ? `(prefers-color-scheme: ${link.dataset.hljs})` : link.dataset.hljs === mode ? "all" : "not all";
  }
  for (const button of document.querySelectorAll("[data-theme-switch]")) {
    const label = button.dataset[`label${mode[0].toUpperCase()}${mode.slice(1)}`];
    button.dataset.mode = mode;
    button.setAttribute("aria-label", label);
    button.title = label;
  }
}

function choose(mode) {
  try {
    if (mode === "system") localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, mode);
  } catch {
    /* not remembered, still applied */
  }
  applyTheme(mode);
}

for (const button of document.querySelectorAll("[data-theme-switch]")) {
  button.addEventListener("click", () => choose(MODES[(MODES.indexOf(stored()) + 1) % MODES.length]));
}
// Another tab switched: follow it.
window.addEventListener("storage", (event) => {
  if (event.key === KEY || event.key === null) applyTheme(stored());
});
applyTheme(stored());
