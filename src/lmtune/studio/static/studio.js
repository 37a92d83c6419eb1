// lmtune studio: keyboard shortcuts on the label page, live progress on the train page.
"use strict";

document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (target && ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) return;
  const button = document.querySelector(`button[data-key="${CSS.escape(event.key.toLowerCase())}"]`);
  if (button && !button.disabled) {
    event.preventDefault();
    button.disabled = true;  // one key press, one label
    button.form.requestSubmit ? button.form.requestSubmit() : button.form.submit();
  }
});

function show(id, value) {
  const node = document.getElementById(id);
  if (node) node.textContent = value === undefined || value === null ? "–" : String(value);
}

function duration(seconds) {
  if (seconds === undefined || seconds === null) return "–";
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

async function poll(panel) {
  try {
    const response = await fetch(panel.dataset.poll, {credentials: "same-origin", cache: "no-store"});
    const state = (await response.json()).training;
    if (state) {
      const p = state.progress || {};
      show("status", state.status);
      show("phase", p.phase || "");
      show("step", p.step || 0);
      show("max-steps", p.max_steps || "?");
      show("loss", p.loss);
      show("eta", duration(p.eta_s));
      show("message", p.message || state.message || "");
      const bar = document.getElementById("bar");
      if (bar) { bar.max = p.max_steps || 1; bar.value = p.step || 0; }
      if (!["starting", "running"].includes(state.status)) { window.location.reload(); return; }
    }
  } catch (error) { /* the server restarting: try again */ }
  setTimeout(() => poll(panel), 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  const panel = document.querySelector("[data-poll]");
  if (panel) poll(panel);
});
