// Markdown for replies: marked renders, DOMPurify sanitizes, highlight.js colours code.
// Nothing else ever reaches innerHTML.

import DOMPurify from "../vendor/dompurify/purify.es.mjs";
import hljs from "../vendor/highlight/highlight.min.js";
import { Marked } from "../vendor/marked/marked.esm.js";
import { t } from "./i18n.js";

const marked = new Marked({ gfm: true, breaks: true });

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.getAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

export function markdownToSafeHtml(text) {
  const html = marked.parse(text || "", { async: false });
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true }, FORBID_TAGS: ["style", "form", "input", "button"] });
}

/** Render Markdown into `container`, then decorate code blocks. */
export function renderMarkdown(container, text, { highlight = true } = {}) {
  container.innerHTML = markdownToSafeHtml(text);
  for (const pre of container.querySelectorAll("pre")) decorateCodeBlock(pre, highlight);
}

function decorateCodeBlock(pre, highlight) {
  const code = pre.querySelector("code");
  if (!code) return;
  const language = ([...code.classList].find((c) => c.startsWith("language-")) || "").replace("language-", "");
  if (highlight) {
    try {
      if (language && hljs.getLanguage(language)) hljs.highlightElement(code);
      else {
        const result = hljs.highlightAuto(code.textContent);
        code.innerHTML = result.value; // highlight.js escapes the source text
        code.classList.add("hljs");
      }
    } catch {
      /* unknown grammar: leave the plain text */
    }
  }
  const wrapper = document.createElement("div");
  wrapper.className = "code-block";
  const head = document.createElement("div");
  head.className = "code-block-head";
  const label = document.createElement("span");
  label.textContent = language || t("code");
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "copy-btn";
  copy.textContent = t("copy");
  copy.setAttribute("aria-label", `${t("copy")} ${language || t("code")}`);
  copy.addEventListener("click", async () => {
    const source = code.textContent;
    try {
      await navigator.clipboard.writeText(source);
    } catch {
      const area = document.createElement("textarea");
      area.value = source;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    copy.textContent = t("copied");
    setTimeout(() => (copy.textContent = t("copy")), 1500);
  });
  head.append(label, copy);
  pre.replaceWith(wrapper);
  wrapper.append(head, pre);
}
