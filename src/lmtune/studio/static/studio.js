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

function drawLosses(losses) {  // [[step, loss], ...] as a line in a 300 x 60 box
  const line = document.getElementById("loss-line");
  if (!line || losses.length < 2) return;
  const steps = losses.map((p) => p[0]), values = losses.map((p) => p[1]);
  const x0 = Math.min(...steps), x1 = Math.max(...steps), y0 = Math.min(...values), y1 = Math.max(...values);
  const x = (s) => (x1 > x0 ? (s - x0) / (x1 - x0) : 0) * 296 + 2;
  const y = (v) => 58 - (y1 > y0 ? (v - y0) / (y1 - y0) : 0.5) * 56;
  line.setAttribute("points", losses.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" "));
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
      drawLosses(p.losses || []);
      const bar = document.getElementById("bar");
      if (bar) { bar.max = p.max_steps || 1; bar.value = p.step || 0; }
      if (!["starting", "running"].includes(state.status)) { window.location.replace(window.location.pathname); return; }  // without the old message
    }
  } catch (error) { /* the server restarting: try again */ }
  setTimeout(() => poll(panel), 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  const panel = document.querySelector("[data-poll]");
  if (panel) poll(panel);
});
