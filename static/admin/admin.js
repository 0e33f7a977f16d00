// tracker admin: small progressive enhancements, no build step (CSP allows only 'self').
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  source.select();
  const label = button.textContent;
  const done = () => { button.textContent = button.dataset.copied || label; setTimeout(() => { button.textContent = label; }, 1500); };
  if (navigator.clipboard) {
    navigator.clipboard.writeText(source.value).then(done, () => { document.execCommand("copy"); done(); });
  } else {
    document.execCommand("copy");
    done();
  }
});
document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.requestSubmit();
});
document.querySelectorAll("button.no-js").forEach((button) => { button.hidden = true; });
