// The theme chosen with the switch, applied before the first paint: a classic script
// loaded in <head> (not a module, not deferred), so it runs before the body is drawn.
// An external file, not an inline script, because pages forbid inline scripts (CSP).
// theme.js keeps the switch and the highlighting's stylesheet in step afterwards.
(() => {
  let theme = null;
  try { theme = localStorage.getItem("luxx.theme"); } catch {}
  if (theme !== "light" && theme !== "dark") return;
  document.documentElement.dataset.theme = theme;
  for (const link of document.querySelectorAll("link[data-hljs]")) link.media = link.dataset.hljs === theme ? "all" : "not all";
})();
