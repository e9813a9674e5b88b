// The livethresh page: the live stream, the stats, and a control for every setting.
// Which settings exist, how to draw them and which method uses which all come from
// api/methods, so a new setting or method needs no change here.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const $ = (id) => document.getElementById(id);

/** A same-origin URL carrying the token, if the page was opened with one. */
function url(path, params = {}) {
  const u = new URL(path, location.href);
  u.search = "";
  if (token) u.searchParams.set("token", token);
  for (const [key, value] of Object.entries(params)) u.searchParams.set(key, value);
  return u.toString();
}

let table = null;       // api/methods
let settings = null;    // the server's current settings
let general = new Set(); // settings every method uses (blur, invert...)
const rows = new Map();  // setting name -> {row, set(value), focusables}
const pending = new Map(); // setting name -> debounce timer

function methodInfo(name) {
  return table.methods.find((m) => m.name === name) || { settings: [], defaults: {} };
}

function showError(message) {
  $("error").textContent = message || "";
  $("error").hidden = !message;
}

async function patch(changes) {
  let response;
  try {
    response = await fetch(url("api/settings"), {
      method: "PATCH",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(changes),
    });
  } catch (err) {
    showError("the server does not answer");
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (response.ok) {
    showError("");
    render(body);
  } else {
    showError(body.error || `the server answered ${response.status}`);
    render(settings); // the server changed nothing: show what is in effect
  }
}

function schedule(name, read, delay) {
  clearTimeout(pending.get(name));
  pending.set(name, setTimeout(() => {
    pending.delete(name);
    patch({ [name]: read() });
  }, delay));
}

function buildControl(control) {
  const row = document.createElement("div");
  row.className = "row";
  row.id = `row-${control.name}`;
  const label = document.createElement("label");
  label.className = "label";
  label.textContent = control.label;
  label.htmlFor = `set-${control.name}`;
  row.append(label);
  let entry;

  if (control.choices) {
    const select = document.createElement("select");
    select.id = `set-${control.name}`;
    select.name = control.name;
    for (const choice of control.choices) {
      const option = document.createElement("option");
      option.value = String(choice);
      option.textContent = control.name === "blur" && choice === 0 ? "0 (off)" : String(choice);
      select.append(option);
    }
    const numeric = control.kind !== "choice" && control.kind !== "text";
    select.addEventListener("change", () =>
      patch({ [control.name]: numeric ? Number(select.value) : select.value }));
    row.append(select);
    entry = {
      set(value) {
        if (![...select.options].some((o) => o.value === String(value))) {
          const option = document.createElement("option");
          option.value = option.textContent = String(value);
          select.append(option);
        }
        select.value = String(value);
      },
      focusables: [select],
    };
  } else if (control.kind === "bool") {
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = `set-${control.name}`;
    box.name = control.name;
    box.addEventListener("change", () => patch({ [control.name]: box.checked }));
    row.append(box);
    entry = { set(value) { box.checked = Boolean(value); }, focusables: [box] };
  } else {
    const pair = document.createElement("span");
    pair.className = "pair";
    const number = document.createElement("input");
    number.type = "number";
    number.id = `set-${control.name}`;
    number.name = control.name;
    number.step = control.step ?? "any";
    const parse = (text) => (text === "" ? null : Number(text));
    let slider = null;
    if (control.min !== undefined && control.max !== undefined) {
      slider = document.createElement("input");
      slider.type = "range";
      slider.min = control.min;
      slider.max = control.max;
      slider.step = control.step ?? "any";
      slider.setAttribute("aria-label", `${control.label} slider`);
      slider.addEventListener("input", () => {
        number.value = slider.value;
        schedule(control.name, () => Number(slider.value), 150);
      });
      pair.append(slider);
    }
    number.addEventListener("change", () => {
      if (number.value === "" && !control.optional) { render(settings); return; }
      schedule(control.name, () => parse(number.value), 0);
    });
    pair.append(number);
    if (control.optional) {
      const reset = document.createElement("button");
      reset.type = "button";
      reset.className = "reset";
      reset.textContent = "default";
      reset.title = "Use the method's own value";
      reset.addEventListener("click", () => patch({ [control.name]: null }));
      pair.append(reset);
    }
    row.append(pair);
    entry = {
      set(value) {
        const fallback = methodInfo(settings.method).defaults[control.name];
        number.value = value === null ? "" : String(value);
        // Unset: the method's own value, or (wolf's R) one taken from each frame.
        number.placeholder = value === null ? (fallback === undefined ? "auto" : `${fallback}`) : "";
        if (slider) slider.value = String(value ?? fallback ?? slider.value);
      },
      focusables: slider ? [slider, number] : [number],
    };
  }
  rows.set(control.name, { row, ...entry });
  if (control.name === "method") {
    const about = document.createElement("p");
    about.id = "method-about";
    about.className = "hint";
    const wrapper = document.createElement("div");
    wrapper.append(row, about);
    return wrapper;
  }
  return row;
}

function render(next) {
  settings = next;
  const about = $("method-about");
  if (about) about.textContent = methodInfo(settings.method).description || "";
  const uses = new Set(methodInfo(settings.method).settings);
  for (const [name, entry] of rows) {
    entry.row.hidden = !(general.has(name) || uses.has(name));
    entry.set(settings[name]);
  }
}

function editing() {
  const active = document.activeElement;
  return [...rows.values()].some((e) => e.focusables.includes(active)) || pending.size > 0;
}

function showView(view) {
  const img = $("stream");
  img.src = url("stream.mjpg", { view });
}

function showStats(event) {
  const stats = event.stats;
  const fps = event.fps_now ?? stats.fps;
  $("fps").textContent = fps === null ? "–" : fps.toFixed(1);
  const p50 = stats.latency_ms.p50;
  $("latency").textContent = p50 === null ? "–" : p50.toFixed(1);
  $("dropped").textContent = String(event.dropped_here ?? stats.dropped);
  $("viewers").textContent = String(event.viewers);
  const status = $("status");
  status.hidden = event.source.state === "running";
  status.className = event.source.state;
  status.textContent = event.source.state === "starting" ? "waiting for the first frame…" : event.source.message;
  if (!editing() && JSON.stringify(event.settings) !== JSON.stringify(settings)) {
    render(event.settings); // changed from another tab or phone
  }
}

function listen() {
  const events = new EventSource(url("api/events"));
  events.onmessage = (message) => showStats(JSON.parse(message.data));
  events.onerror = () => {
    const status = $("status");
    status.hidden = false;
    status.className = "failed";
    status.textContent = "the server does not answer; retrying…";
  };
}

async function start() {
  const [methods, current] = await Promise.all([
    fetch(url("api/methods")).then((r) => r.json()),
    fetch(url("api/settings")).then((r) => r.json()),
  ]);
  table = methods;
  const specific = new Set(table.methods.flatMap((m) => m.settings));
  general = new Set(table.controls.map((c) => c.name).filter((n) => n === "method" || !specific.has(n)));
  const box = $("settings");
  for (const control of table.controls) box.append(buildControl(control));
  render(current);
  for (const radio of document.querySelectorAll("input[name=view]")) {
    radio.addEventListener("change", () => showView(radio.value));
  }
  showView("mask");
  $("snapshot").addEventListener("click", () => {
    $("snapshot").href = url("snapshot.png", { download: "1", t: Date.now() });
  });
  $("preset").addEventListener("click", () => {
    $("preset").href = url("preset.toml", { t: Date.now() });
  });
  $("snapshot").href = url("snapshot.png", { download: "1" });
  $("preset").href = url("preset.toml");
  listen();
}

start().catch((err) => showError(`could not load the page's settings: ${err}`));
