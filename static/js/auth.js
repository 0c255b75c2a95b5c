// The sign-in and registration pages: the language menu applies the choice at once.
for (const select of document.querySelectorAll("select[data-autosubmit]")) select.addEventListener("change", () => select.form.submit());
