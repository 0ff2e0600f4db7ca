// descend explorer: the page's script. Plain ES2020, no libraries, no build step.
//
// The server's Content-Security-Policy allows only same-origin scripts and styles: no
// inline styles or handlers, no eval. Styles are set through element.style or classes.
//
// The whole picture lives in the URL hash (see readURL / writeURL), e.g.
//   #fn=himmelblau&start=-3,-3&opt=gd,adam&gd=lr:0.01&adam=lr:0.01,b1:0.9,b2:0.999
//    &steps=1000&view=-5,0,-5,0&arrows=1&basins=1&speed=50
// (formula=<text> instead of fn=<name> for a typed formula).

// ------------------------------------------------------------------ constants

const OPT_ORDER = ["gd", "momentum", "nesterov", "rmsprop", "adagrad", "adam", "adamw"];

// Okabe-Ito: a colour-blind-safe categorical palette, one colour per optimizer.
const OPT_COLORS = {
  gd: "#E69F00", // orange
  momentum: "#56B4E9", // sky blue
  nesterov: "#009E73", // bluish green
  rmsprop: "#CC79A7", // reddish purple
  adagrad: "#F0E442", // yellow
  adam: "#0072B2", // blue
  adamw: "#D55E00", // vermillion
};
const EXTRA_COLORS = ["#000000", "#999999", "#882255", "#44AA99"];

const OPT_DESCRIPTIONS = {
  gd: "plain gradient descent",
  momentum: "heavy-ball momentum",
  nesterov: "look-ahead momentum",
  rmsprop: "step / RMS of gradients",
  adagrad: "step / summed squared gradients",
  adam: "momentum + RMS scaling",
  adamw: "adam + decoupled weight decay",
};

// Fallback learning rates where the server's default is not a number (e.g. "auto").
const FALLBACK_LR = { gd: 0.01, momentum: 0.01, nesterov: 0.01, rmsprop: 0.01, adagrad: 0.1, adam: 0.01, adamw: 0.01 };

// The hyperparameters with a slider. kind: "log" (slider is log10 v), "lin" (slider is v),
// "oneminus" (slider is log10(1 - v), for b2 near 1).
const PARAM_SPECS = {
  learning_rate: { label: "lr", title: "learning rate η (log scale)", kind: "log", min: -5, max: 1, step: 0.01, url: "lr" },
  beta: { label: "β", title: "momentum coefficient β", kind: "lin", min: 0, max: 0.999, step: 0.001, url: "beta" },
  decay: { label: "ρ", title: "decay ρ of the running mean of squared gradients", kind: "lin", min: 0, max: 0.999, step: 0.001, url: "decay" },
  b1: { label: "β₁", title: "b1: decay of the running mean of gradients", kind: "lin", min: 0, max: 0.999, step: 0.001, url: "b1" },
  b2: { label: "β₂", title: "b2: decay of the running mean of squared gradients (slider on log10(1 − b2))", kind: "oneminus", min: -5, max: -0.5, step: 0.01, url: "b2" },
  weight_decay: { label: "λ", title: "weight decay λ (log scale)", kind: "log", min: -6, max: 0, step: 0.01, url: "wd" },
};
const PARAM_ORDER = ["learning_rate", "beta", "decay", "b1", "b2", "weight_decay"];

// Viridis, 10 stops (matplotlib's), interpolated linearly in sRGB.
const VIRIDIS = [
  [68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
  [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37],
];
const FILL_LIGHTEN = 0.22; // mix the fill with white so that paths stand out

// Basins: a qualitative palette (Dark2), drawn translucent under the contours.
const BASIN_COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"];

const MAX_SELECTED = 6;
const MAX_STEPS = 10000;
const MAX_BASINS_STEPS = 5000;
const DEFAULT_SPEED = 50; // steps per second
const DEFAULT_SELECTED = ["gd", "momentum", "adam"];

// ------------------------------------------------------------------ state

const state = {
  fn: "",
  formula: "", // non-empty: the function is this formula
  start: null, // [x, y]; null until known
  selected: [], // optimizer names, in OPT_ORDER
  hyper: {}, // name -> {learning_rate, beta, ...}
  steps: 1000,
  view: null, // null or [[x0, x1], [y0, y1]] (a zoom)
  arrows: false,
  basins: false,
  speed: DEFAULT_SPEED,
};

let functions = []; // from /api/functions
let optDefaults = {}; // name -> {learning_rate, ...}
let optNames = []; // the optimizers offered, in display order

let landscape = null; // the last good /api/landscape answer (normalized)
let landscapeSource = ""; // sourceKey() it was computed for
let runs = []; // normalized runs of the last good /api/run answer
let edge = null;
let basins = null; // the last good /api/basins answer
let basinsNote = "";
let invalid = false; // the formula does not parse: no runs, a veil over the map
let lastRunError = "";

// animation
let frame = 0; // steps shown (fractional while animating)
let maxNit = 0;
let playing = false;
let rafId = 0;
let lastTs = null;
let pendingRestart = true; // the next run answer restarts the animation from step 0

// request bookkeeping
const keys = { landscape: null, run: null, basins: null }; // what was last requested
const inflight = { landscape: null, run: null, basins: null };
const timers = new Map();
let pendingCount = 0;
let busyTimer = 0;
let busyNote = "";

// ------------------------------------------------------------------ DOM

const $ = (sel) => document.querySelector(sel);
const el = {
  select: $("#function-select"),
  formula: $("#formula-input"),
  formulaError: $("#formula-error"),
  info: $("#function-info"),
  optList: $("#optimizer-list"),
  edgeInfo: $("#edge-info"),
  steps: $("#steps-input"),
  map: $("#map"),
  mapWrap: $("#map-wrap"),
  readout: $("#readout"),
  loss: $("#loss"),
  lossWrap: $("#loss-wrap"),
  lossLabel: $("#loss-label"),
  play: $("#play"),
  pause: $("#pause"),
  step: $("#step"),
  speed: $("#speed"),
  speedValue: $("#speed-value"),
  frameCounter: $("#frame-counter"),
  arrows: $("#arrows-toggle"),
  basins: $("#basins-toggle"),
  resetZoom: $("#reset-zoom"),
  statusList: $("#status-list"),
  basinsInfo: $("#basins-info"),
  exportPng: $("#export-png"),
  exportCsv: $("#export-csv"),
  exportJson: $("#export-json"),
  copyLink: $("#copy-link"),
  snippet: $("#python-snippet"),
  copySnippet: $("#copy-snippet"),
  copyNote: $("#copy-note"),
  banner: $("#error-banner"),
  busy: $("#busy-indicator"),
};

function make(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "text") node.textContent = v;
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

// ------------------------------------------------------------------ numbers

const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
const sig = (v, n = 3) => Number(Number(v).toPrecision(n));

function fmt(v, digits = 4) {
  if (!isNum(v)) return "—";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(Math.max(0, digits - 2)).replace("e+", "e");
  return String(Number(v.toPrecision(digits)));
}

// A number for Python source: shortest round-trip text, with a ".0" on integers.
function pyNum(v) {
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return v.toFixed(1);
  return String(v);
}

// Start coordinates and zoom boxes are rounded to what a click can resolve.
function roundTo(v, span) {
  const d = clamp(Math.ceil(-Math.log10(Math.abs(span) / 2000)), 0, 12);
  return Number(v.toFixed(d));
}

function niceTicks(lo, hi, count) {
  const span = hi - lo;
  if (!(span > 0)) return { ticks: [lo], step: 1 };
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return { ticks, step };
}

function tickLabel(v, step) {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-4)) return v.toExponential(1).replace("e+", "e");
  const dec = clamp(-Math.floor(Math.log10(step) + 1e-9), 0, 10);
  return v.toFixed(dec);
}

const SUPERSCRIPT = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };
const pow10Label = (k) => (k === 0 ? "1" : k === 1 ? "10" : "10" + String(k).replace(/./g, (c) => SUPERSCRIPT[c] || c));

function viridis(t) {
  t = clamp(t, 0, 1) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(t));
  const u = t - i;
  const a = VIRIDIS[i], b = VIRIDIS[i + 1];
  return [0, 1, 2].map((k) => Math.round((a[k] + u * (b[k] - a[k])) * (1 - FILL_LIGHTEN) + 255 * FILL_LIGHTEN));
}

function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

// ------------------------------------------------------------------ optimizers and parameters

function optColor(name) {
  if (OPT_COLORS[name]) return OPT_COLORS[name];
  const extra = optNames.filter((n) => !OPT_COLORS[n]);
  return EXTRA_COLORS[Math.max(0, extra.indexOf(name)) % EXTRA_COLORS.length];
}

function paramsOf(name) {
  const d = optDefaults[name] || {};
  return PARAM_ORDER.filter((p) => p === "learning_rate" || (p in d && isNum(d[p])));
}

function defaultHyper(name) {
  const d = optDefaults[name] || {};
  const h = {};
  for (const p of paramsOf(name)) {
    if (p === "learning_rate") h[p] = isNum(d[p]) && d[p] > 0 ? d[p] : FALLBACK_LR[name] || 0.01;
    else h[p] = d[p];
  }
  return h;
}

function validParam(p, v) {
  if (!isNum(v)) return false;
  if (p === "learning_rate") return v > 0 && v < 1e6;
  if (p === "weight_decay") return v >= 0 && v < 1e3;
  return v >= 0 && v < 1; // beta, decay, b1, b2
}

function sliderFromValue(p, v) {
  const s = PARAM_SPECS[p];
  if (s.kind === "log") return v > 0 ? Math.log10(v) : s.min;
  if (s.kind === "oneminus") return v < 1 ? Math.log10(1 - v) : s.min;
  return v;
}

function valueFromSlider(p, s) {
  const spec = PARAM_SPECS[p];
  if (spec.kind === "log") return sig(10 ** s, 3);
  if (spec.kind === "oneminus") return Number((1 - sig(10 ** s, 3)).toFixed(12));
  return Number(Number(s).toFixed(3));
}

function optBody(name) {
  return { name, ...state.hyper[name] };
}

// The stability edge of the learning rate at the start, on the local quadratic model:
// gd 2/L, heavy ball 2(1+β)/L, optax's Nesterov 2(1+β)/((1+2β)L). Adaptive methods
// scale their steps and have no such edge.
function lrEdge(name) {
  if (!edge || !isNum(edge.two_over_L) || edge.two_over_L <= 0) return null;
  const e = edge.two_over_L;
  const beta = state.hyper[name]?.beta;
  if (name === "gd") return e;
  if (name === "momentum" && isNum(beta)) return e * (1 + beta);
  if (name === "nesterov" && isNum(beta)) return (e * (1 + beta)) / (1 + 2 * beta);
  return null;
}

// ------------------------------------------------------------------ source, domain

const currentFn = () => functions.find((f) => f.name === state.fn) || null;
const sourceBody = () => (state.formula ? { formula: state.formula } : { function: state.fn });
const sourceKey = () => JSON.stringify(sourceBody());

function defaultDomain() {
  if (state.formula) return landscapeSource === sourceKey() ? landscape.defaultDomain || landscape.domain : null;
  return currentFn()?.domain || null;
}

function drawDomain() {
  return landscape ? landscape.domain : state.view || defaultDomain() || [[-1, 1], [-1, 1]];
}

function defaultStart(domain) {
  const fn = currentFn();
  if (!state.formula && fn && Array.isArray(fn.start) && fn.start.every(isNum)) return fn.start.slice(0, 2);
  if (!domain) return null;
  return domain.map(([lo, hi]) => roundTo(lo + 0.2 * (hi - lo), hi - lo));
}

function knownMinimum() {
  const list = [];
  if (!state.formula && currentFn()) list.push(...(currentFn().minima || []));
  if (landscape && landscapeSource === sourceKey()) list.push(...landscape.minima);
  const fs = list.map((m) => m[2]).filter(isNum);
  return fs.length ? Math.min(...fs) : null;
}

// ------------------------------------------------------------------ URL state

function enc(v) {
  return encodeURIComponent(String(v)).replace(/%2C/gi, ",").replace(/%3A/gi, ":");
}

function parseParams() {
  const out = new Map();
  const parts = [location.search.slice(1), location.hash.slice(1)];
  for (const part of parts) {
    for (const item of part.split("&")) {
      if (!item) continue;
      const i = item.indexOf("=");
      const k = i < 0 ? item : item.slice(0, i);
      const v = i < 0 ? "" : item.slice(i + 1);
      try {
        out.set(decodeURIComponent(k), decodeURIComponent(v));
      } catch {
        /* a broken escape: ignore the item */
      }
    }
  }
  return out;
}

function numbers(text, n) {
  if (typeof text !== "string") return null;
  const v = text.split(",").map((s) => (s.trim() === "" ? NaN : Number(s)));
  return v.length === n && v.every(isNum) ? v : null;
}

function writeURL() {
  const parts = [];
  if (state.formula) parts.push("formula=" + enc(state.formula));
  else parts.push("fn=" + enc(state.fn));
  if (state.start) parts.push("start=" + state.start.join(","));
  parts.push("opt=" + state.selected.join(","));
  for (const name of state.selected) {
    const h = state.hyper[name];
    const items = paramsOf(name).map((p) => `${PARAM_SPECS[p].url}:${h[p]}`);
    parts.push(enc(name) + "=" + items.join(","));
  }
  parts.push("steps=" + state.steps);
  if (state.view) parts.push("view=" + state.view.flat().join(","));
  if (state.arrows) parts.push("arrows=1");
  if (state.basins) parts.push("basins=1");
  if (state.speed !== DEFAULT_SPEED) parts.push("speed=" + state.speed);
  const hash = "#" + parts.join("&");
  if (location.hash !== hash) history.replaceState(null, "", location.pathname + location.search + hash);
}

// Read the URL into `state` (unknown or broken items fall back to defaults).
function readURL() {
  const p = parseParams();
  const names = functions.map((f) => f.name);
  state.fn = p.has("fn") && names.includes(p.get("fn")) ? p.get("fn") : names.includes("himmelblau") ? "himmelblau" : names[0] || "";
  state.formula = p.has("formula") ? p.get("formula").trim() : "";
  if (!state.formula && !names.length) state.formula = "x**2 + 3*y**2";

  state.hyper = {};
  for (const name of optNames) state.hyper[name] = defaultHyper(name);
  if (p.has("opt")) {
    const seen = new Set();
    for (const n of p.get("opt").split(",")) if (optNames.includes(n) && seen.size < MAX_SELECTED) seen.add(n);
    state.selected = optNames.filter((n) => seen.has(n));
  } else {
    state.selected = DEFAULT_SELECTED.filter((n) => optNames.includes(n));
    if (!state.selected.length && optNames.length) state.selected = [optNames[0]];
  }
  for (const name of optNames) {
    if (!p.has(name)) continue;
    for (const item of p.get(name).split(",")) {
      const [k, v] = item.split(":");
      const param = PARAM_ORDER.find((q) => PARAM_SPECS[q].url === k || q === k);
      const value = Number(v);
      if (param && param in state.hyper[name] && validParam(param, value)) state.hyper[name][param] = value;
    }
  }
  const steps = Number(p.get("steps"));
  state.steps = Number.isInteger(steps) && steps >= 1 ? Math.min(steps, MAX_STEPS) : 1000;
  const view = numbers(p.get("view"), 4);
  state.view = view && view[0] < view[1] && view[2] < view[3] ? [[view[0], view[1]], [view[2], view[3]]] : null;
  state.arrows = p.get("arrows") === "1";
  state.basins = p.get("basins") === "1";
  const speed = Number(p.get("speed"));
  state.speed = isNum(speed) && speed > 0 ? clamp(speed, 1, 1000) : DEFAULT_SPEED;
  state.start = numbers(p.get("start"), 2) || (state.formula ? null : defaultStart(null));
}

// ------------------------------------------------------------------ requests

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(new DOMException("aborted", "AbortError"));
    });
  });

// POST JSON; a 429 (the server is busy compiling) is retried after a short delay.
async function postJSON(path, body, signal) {
  for (let attempt = 0; ; attempt++) {
    const resp = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
      signal,
    });
    let data = null;
    try {
      data = await resp.json();
    } catch {
      data = null;
    }
    if (resp.status === 429 && attempt < 80) {
      const after = Number(resp.headers.get("Retry-After"));
      busyNote = "server busy compiling, retrying…";
      updateBusy();
      await sleep(isNum(after) && after > 0 ? Math.min(after * 1000, 3000) : Math.min(150 + 100 * attempt, 1000), signal);
      continue;
    }
    busyNote = "";
    return { ok: resp.ok, status: resp.status, data };
  }
}

function begin(kind) {
  inflight[kind]?.ctrl.abort();
  const req = { ctrl: new AbortController() };
  inflight[kind] = req;
  return req;
}

async function tracked(fn) {
  pendingCount++;
  updateBusy();
  try {
    return await fn();
  } finally {
    pendingCount--;
    updateBusy();
  }
}

function schedule(name, fn, delay) {
  clearTimeout(timers.get(name));
  timers.set(
    name,
    setTimeout(() => {
      timers.delete(name);
      fn();
      updateBusy();
    }, delay),
  );
  updateBusy();
}

function updateBusy() {
  const busy = pendingCount > 0 || timers.size > 0;
  document.body.dataset.state = busy ? "busy" : "ready";
  if (pendingCount > 0) {
    if (!busyTimer && el.busy.hidden) busyTimer = setTimeout(() => { busyTimer = 0; if (pendingCount > 0) el.busy.hidden = false; }, 120);
  } else {
    clearTimeout(busyTimer);
    busyTimer = 0;
    el.busy.hidden = true;
  }
  el.busy.textContent = busyNote || "computing…";
}

function errorText(res) {
  return (res.data && typeof res.data.error === "string" && res.data.error) || `HTTP ${res.status}`;
}

function showBanner(text) {
  el.banner.textContent = text;
  el.banner.hidden = !text;
}

// After every change of `state`: update the URL and the snippet, then ask the server
// for whatever the change affects (each kind of request keyed by what it depends on).
function sync(delay = 50) {
  if (!state.start && landscape && landscapeSource === sourceKey()) state.start = defaultStart(landscape.defaultDomain || landscape.domain);
  writeURL();
  updateSnippet();
  el.resetZoom.disabled = !state.view;

  const lk = JSON.stringify([sourceBody(), state.view]);
  if (lk !== keys.landscape) {
    keys.landscape = lk;
    schedule("landscape", loadLandscape, 0);
  }
  // A new formula is checked (and its domain learnt) by the landscape request first.
  const sourceReady = landscapeSource === sourceKey() || (!state.formula && !invalid);
  if (!sourceReady || invalid || !state.start) return;

  if (!state.selected.length) {
    inflight.run?.ctrl.abort();
    keys.run = null;
    clearTimeout(timers.get("run"));
    timers.delete("run");
    runs = [];
    edge = null;
    lastRunError = "";
    afterRuns();
  } else {
    const rk = JSON.stringify([sourceBody(), state.start, state.selected.map(optBody), state.steps]);
    if (rk !== keys.run) {
      keys.run = rk;
      schedule("run", loadRuns, delay);
    }
  }
  if (state.basins) {
    const bk = JSON.stringify([sourceBody(), state.view, basinsOptimizer(), state.steps]);
    if (bk !== keys.basins) {
      keys.basins = bk;
      schedule("basins", loadBasins, Math.max(delay, 200));
    }
  } else if (basins || keys.basins) {
    inflight.basins?.ctrl.abort();
    keys.basins = null;
    basins = null;
    el.basinsInfo.hidden = true;
    renderBackground();
    drawMap();
  }
  updateBusy();
}

function basinsOptimizer() {
  const name = state.selected[0] || (optNames.includes("gd") ? "gd" : optNames[0]);
  return optBody(name);
}

async function loadLandscape() {
  const req = begin("landscape");
  const src = sourceKey();
  const body = { ...sourceBody() };
  if (state.view) body.domain = state.view;
  await tracked(async () => {
    let res;
    try {
      res = await postJSON("/api/landscape", body, req.ctrl.signal);
    } catch (e) {
      if (e.name !== "AbortError" && inflight.landscape === req) {
        keys.landscape = null;
        showBanner("cannot reach the server: " + e.message);
      }
      return;
    }
    if (inflight.landscape !== req) return; // superseded: keep only the latest
    inflight.landscape = null;
    if (!res.ok) {
      if (res.status === 422 && state.formula) {
        invalid = true;
        showFormulaError(errorText(res), res.data?.column);
        runs = [];
        edge = null;
        keys.run = null;
        afterRuns();
      } else {
        keys.landscape = null;
        showBanner("landscape: " + errorText(res));
      }
      drawMap();
      return;
    }
    showBanner("");
    clearFormulaError();
    const wasInvalid = invalid;
    invalid = false;
    const sourceChanged = landscapeSource !== src;
    landscape = normalizeLandscape(res.data, body.domain && landscapeSource === src ? landscape?.defaultDomain : null);
    landscapeSource = src;
    if (!body.domain) landscape.defaultDomain = landscape.domain;
    if ((sourceChanged || wasInvalid) && state.formula) {
      const d = landscape.domain;
      const inside = state.start && state.start[0] >= d[0][0] && state.start[0] <= d[0][1] && state.start[1] >= d[1][0] && state.start[1] <= d[1][1];
      if (!inside) {
        state.start = defaultStart(d);
        pendingRestart = true;
      }
    }
    updateInfo();
    computeLossScale();
    renderBackground();
    drawAll();
    sync(0);
  });
}

async function loadRuns() {
  const req = begin("run");
  const body = { ...sourceBody(), start: state.start, optimizers: state.selected.map(optBody), steps: state.steps };
  await tracked(async () => {
    let res;
    try {
      res = await postJSON("/api/run", body, req.ctrl.signal);
    } catch (e) {
      if (e.name !== "AbortError" && inflight.run === req) {
        keys.run = null;
        showBanner("cannot reach the server: " + e.message);
      }
      return;
    }
    if (inflight.run !== req) return; // superseded
    inflight.run = null;
    if (!res.ok) {
      keys.run = null;
      runs = [];
      edge = null;
      if (res.status === 422 && state.formula) showFormulaError(errorText(res), res.data?.column);
      lastRunError = errorText(res);
      if (!(res.status === 422 && state.formula)) showBanner("run: " + lastRunError);
      afterRuns();
      return;
    }
    showBanner("");
    lastRunError = "";
    applyRuns(res.data);
  });
}

async function loadBasins() {
  const req = begin("basins");
  const opt = basinsOptimizer();
  // the server caps a basins map's steps (every start of the grid runs them)
  const body = { ...sourceBody(), optimizer: opt, steps: Math.min(state.steps, MAX_BASINS_STEPS) };
  if (state.view) body.domain = state.view;
  await tracked(async () => {
    let res;
    try {
      res = await postJSON("/api/basins", body, req.ctrl.signal);
    } catch (e) {
      if (e.name !== "AbortError" && inflight.basins === req) {
        keys.basins = null;
        showBanner("cannot reach the server: " + e.message);
      }
      return;
    }
    if (inflight.basins !== req) return;
    inflight.basins = null;
    if (!res.ok || !state.basins) {
      if (!res.ok) {
        keys.basins = null;
        if (!(res.status === 422 && state.formula)) showBanner("basins: " + errorText(res));
      }
      return;
    }
    basins = normalizeBasins(res.data);
    basinsNote = `${opt.name}, lr ${fmt(opt.learning_rate)}, ${Math.min(state.steps, MAX_BASINS_STEPS)} steps`;
    updateBasinsInfo();
    renderBackground();
    drawMap();
  });
}

// ------------------------------------------------------------------ normalizing answers

function toFloatGrid(rows, ny, nx) {
  const out = new Float64Array(nx * ny).fill(NaN);
  if (!Array.isArray(rows)) return out;
  for (let j = 0; j < ny; j++) {
    const row = rows[j];
    if (!Array.isArray(row)) continue;
    for (let i = 0; i < nx; i++) if (isNum(row[i])) out[j * nx + i] = row[i];
  }
  return out;
}

function normalizeLandscape(d, defaultDomain) {
  const x = (d.x || []).map(Number);
  const y = (d.y || []).map(Number);
  const nx = x.length, ny = y.length;
  const f = toFloatGrid(d.f, ny, nx);
  let levels = (d.levels || []).filter(isNum).sort((a, b) => a - b);
  if (levels.length < 2) {
    const vals = Array.from(f).filter(Number.isFinite).sort((a, b) => a - b);
    levels = [];
    if (vals.length) for (let k = 1; k < 20; k++) levels.push(vals[Math.floor((k / 20) * (vals.length - 1))]);
    levels = [...new Set(levels)];
  }
  const domain = Array.isArray(d.domain) && d.domain.length === 2 ? d.domain.map((p) => [Number(p[0]), Number(p[1])]) : [[x[0], x[nx - 1]], [y[0], y[ny - 1]]];
  let grad = null;
  if (d.grad && Array.isArray(d.grad.x) && Array.isArray(d.grad.y)) {
    const gnx = d.grad.x.length, gny = d.grad.y.length;
    grad = { x: d.grad.x.map(Number), y: d.grad.y.map(Number), gx: toFloatGrid(d.grad.gx, gny, gnx), gy: toFloatGrid(d.grad.gy, gny, gnx) };
  }
  const minima = (d.minima || []).filter((m) => Array.isArray(m) && isNum(m[0]) && isNum(m[1]));
  const variables = Array.isArray(d.variables) && d.variables.length >= 2 ? d.variables.map(String) : ["x", "y"];
  return { domain, defaultDomain: defaultDomain || null, x, y, nx, ny, f, levels, log: !!d.log, minima, variables, grad };
}

const finitePoint = (p) => Array.isArray(p) && isNum(p[0]) && isNum(p[1]);

function normalizeRun(r) {
  const path = Array.isArray(r.path) ? r.path : [];
  const loss = Array.isArray(r.loss) ? r.loss : [];
  let lastPoint = -1;
  while (lastPoint + 1 < path.length && finitePoint(path[lastPoint + 1])) lastPoint++;
  let lastLoss = -1;
  while (lastLoss + 1 < loss.length && isNum(loss[lastLoss + 1])) lastLoss++;
  const nit = Number.isInteger(r.nit) ? r.nit : Math.max(0, path.length - 1);
  return {
    optimizer: String(r.optimizer),
    hyper: r.hyper || {},
    path,
    loss,
    lastPoint,
    lastLoss,
    status: String(r.status ?? "unknown"),
    success: !!r.success,
    message: String(r.message ?? ""),
    nit,
  };
}

function normalizeBasins(d) {
  const x = (d.x || []).map(Number), y = (d.y || []).map(Number);
  const labels = new Int32Array(x.length * y.length).fill(-1);
  (d.labels || []).forEach((row, j) => Array.isArray(row) && row.forEach((v, i) => { if (Number.isInteger(v) && i < x.length) labels[j * x.length + i] = v; }));
  return { x, y, labels, minima: (d.minima || []).filter((m) => Array.isArray(m) && isNum(m[0]) && isNum(m[1])) };
}

// ------------------------------------------------------------------ applying runs

function applyRuns(data) {
  const prevMax = maxNit;
  const atEnd = !playing && frame >= prevMax && prevMax > 0;
  runs = (data.runs || []).map(normalizeRun);
  edge = data.edge || null;
  maxNit = runs.reduce((m, r) => Math.max(m, r.nit, r.lastPoint), 0);
  if (pendingRestart || prevMax === 0) {
    pendingRestart = false;
    frame = 0;
    play();
  } else if (atEnd) {
    frame = maxNit;
  } else {
    frame = Math.min(frame, maxNit);
    if (playing) play();
  }
  afterRuns();
}

function afterRuns() {
  if (!runs.length) maxNit = 0;
  frame = Math.min(frame, maxNit);
  computeLossScale();
  buildStatusList();
  updateEdgeUI();
  drawAll();
}

// ------------------------------------------------------------------ status list

function headline(run) {
  const n = run.nit;
  const edgeLr = lrEdge(run.optimizer);
  const lr = run.hyper.learning_rate ?? state.hyper[run.optimizer]?.learning_rate;
  switch (run.status) {
    case "gtol":
    case "xtol":
    case "ftol":
      return { text: `converged in ${n} step${n === 1 ? "" : "s"}`, cls: "ok" };
    case "max_steps":
      return { text: `stopped at the step limit (${n} steps)`, cls: "warn" };
    case "diverged":
    case "nonfinite": {
      let text = run.status === "diverged" ? `diverged at step ${n}` : `non-finite at step ${n}`;
      if (edgeLr && isNum(lr) && lr > edgeLr * 0.999) text += `, try lr < ${fmt(edgeLr, 3)}`;
      else text += ", try a smaller lr";
      return { text, cls: "bad" };
    }
    case "unbounded":
      return { text: `f keeps falling (step ${n}): no minimum this way?`, cls: "bad" };
    default:
      return { text: run.success ? `converged in ${n} steps` : `${run.status} after ${n} steps`, cls: run.success ? "ok" : "warn" };
  }
}

function buildStatusList() {
  el.statusList.textContent = "";
  if (!runs.length) {
    const msg = invalid ? "fix the formula to run" : lastRunError ? "error: " + lastRunError : !state.selected.length ? "pick an optimizer" : "…";
    el.statusList.append(make("li", { class: "empty", text: msg }));
    return;
  }
  for (const run of runs) {
    const h = headline(run);
    const swatch = make("span", { class: "swatch" });
    swatch.style.background = optColor(run.optimizer);
    const hyper = paramsOf(run.optimizer)
      .map((p) => `${PARAM_SPECS[p].label} ${fmt(run.hyper[p] ?? state.hyper[run.optimizer]?.[p], 3)}`)
      .join(" · ");
    const li = make(
      "li",
      { dataset: { optimizer: run.optimizer, status: run.status, success: String(run.success) } },
      make("div", { class: "run-head" }, swatch, make("span", { class: "name", text: run.optimizer }), make("span", { class: "badge " + h.cls, text: run.status }), make("span", { class: "hyper", text: hyper })),
      make("div", { class: "headline " + h.cls, text: h.text }),
      run.message ? make("div", { class: "message", text: run.message }) : null,
      make("div", { class: "live" }),
    );
    li.style.borderLeftColor = optColor(run.optimizer);
    el.statusList.append(li);
  }
  updateLive(true);
}

let lastLiveStep = -1;
function updateLive(force = false) {
  const k = Math.floor(frame);
  if (!force && k === lastLiveStep) return;
  lastLiveStep = k;
  el.frameCounter.textContent = runs.length ? `step ${k} / ${maxNit}` : "";
  const items = el.statusList.querySelectorAll("li[data-optimizer]");
  runs.forEach((run, i) => {
    const live = items[i]?.querySelector(".live");
    if (!live) return;
    const j = Math.min(k, run.lastLoss, run.nit);
    const p = run.path[Math.min(k, run.lastPoint)];
    const at = finitePoint(p) ? `(${fmt(p[0], 4)}, ${fmt(p[1], 4)})` : "";
    live.textContent = j >= 0 ? `step ${j}: f = ${fmt(run.loss[j], 5)} ${at}` : "f not finite";
  });
}

function updateBasinsInfo() {
  el.basinsInfo.hidden = !(state.basins && basins);
  el.basinsInfo.textContent = basins
    ? `Basins of attraction (${basinsNote}): each colour is the set of starts that end at one minimum; grey: did not converge.`
    : "";
}

// ------------------------------------------------------------------ UI building

function buildFunctionSelect() {
  el.select.textContent = "";
  el.select.append(make("option", { value: "", text: "— your formula —", disabled: true }));
  for (const f of functions) {
    el.select.append(make("option", { value: f.name, text: f.name, title: f.description || "" }));
  }
}

function buildOptimizerList() {
  el.optList.textContent = "";
  for (const name of optNames) {
    const check = make("input", { type: "checkbox", dataset: { optimizer: name }, "aria-label": `run ${name}` });
    const swatch = make("span", { class: "swatch" });
    swatch.style.background = optColor(name);
    const head = make("label", { class: "opt-head" }, check, swatch, make("span", { text: name }), make("span", { class: "desc", text: OPT_DESCRIPTIONS[name] || "" }));
    const body = make("div", { class: "opt-body" });
    for (const p of paramsOf(name)) body.append(buildParam(name, p));
    const box = make("div", { class: "opt", dataset: { opt: name } }, head, body);
    el.optList.append(box);
    check.addEventListener("change", () => {
      const on = new Set(state.selected);
      if (check.checked) on.add(name);
      else on.delete(name);
      state.selected = optNames.filter((n) => on.has(n)).slice(0, MAX_SELECTED);
      syncOptimizerUI();
      sync(0);
    });
  }
}

function buildParam(name, p) {
  const spec = PARAM_SPECS[p];
  const isLr = p === "learning_rate";
  const slider = make("input", {
    type: "range",
    min: String(spec.min),
    max: String(spec.max),
    step: String(spec.step),
    class: isLr ? "lr-slider" : "hyper-slider",
    dataset: { optimizer: name, param: p },
    "aria-label": `${name} ${spec.title}`,
  });
  if (isLr && name === "gd") slider.id = "lr-slider";
  const track = make("div", { class: "track" }, slider);
  if (isLr) {
    const zone = make("div", { class: "edge-zone", hidden: true });
    const marker = make("div", { class: "edge-marker", hidden: true });
    track.append(zone, marker);
  }
  const value = make("input", { type: "text", class: "val", inputmode: "decimal", dataset: { for: name, param: p }, "aria-label": `${name} ${p}` });
  slider.addEventListener("input", () => {
    state.hyper[name][p] = valueFromSlider(p, Number(slider.value));
    value.value = String(state.hyper[name][p]);
    value.removeAttribute("aria-invalid");
    if (p === "beta") updateEdgeUI();
    sync(50);
  });
  value.addEventListener("change", () => {
    const v = Number(value.value.trim());
    if (!validParam(p, v)) {
      value.setAttribute("aria-invalid", "true");
      return;
    }
    value.removeAttribute("aria-invalid");
    state.hyper[name][p] = v;
    slider.value = String(sliderFromValue(p, v));
    if (p === "beta") updateEdgeUI();
    sync(0);
  });
  return make("div", { class: "param" + (isLr ? " lr" : ""), title: spec.title }, make("span", { class: "pname", text: spec.label }), track, value);
}

// Put every control in line with `state`.
function syncControls() {
  if (state.formula) {
    el.select.value = "";
    el.formula.value = state.formula;
  } else {
    el.select.value = state.fn;
    if (document.activeElement !== el.formula) el.formula.value = "";
  }
  syncOptimizerUI();
  el.steps.value = String(state.steps);
  el.arrows.checked = state.arrows;
  el.basins.checked = state.basins;
  el.speed.value = String(Math.log10(state.speed));
  el.speedValue.textContent = `${Math.round(state.speed)} steps/s`;
  el.resetZoom.disabled = !state.view;
  updateInfo();
}

function syncOptimizerUI() {
  const full = state.selected.length >= MAX_SELECTED;
  for (const box of el.optList.querySelectorAll(".opt")) {
    const name = box.dataset.opt;
    const on = state.selected.includes(name);
    box.classList.toggle("on", on);
    const check = box.querySelector('input[type="checkbox"]');
    check.checked = on;
    check.disabled = !on && full;
    box.querySelector(".opt-body").hidden = !on;
    for (const s of box.querySelectorAll('input[type="range"]')) {
      const p = s.dataset.param;
      s.value = String(sliderFromValue(p, state.hyper[name][p]));
    }
    for (const v of box.querySelectorAll("input.val")) {
      v.value = String(state.hyper[name][v.dataset.param]);
      v.removeAttribute("aria-invalid");
    }
  }
  updateEdgeUI();
}

function updateEdgeUI() {
  for (const slider of el.optList.querySelectorAll(".lr-slider")) {
    const name = slider.dataset.optimizer;
    const track = slider.parentElement;
    const marker = track.querySelector(".edge-marker");
    const zone = track.querySelector(".edge-zone");
    const e = lrEdge(name);
    const spec = PARAM_SPECS.learning_rate;
    const t = e ? (Math.log10(e) - spec.min) / (spec.max - spec.min) : NaN;
    const show = isNum(t) && t >= 0 && t <= 1;
    marker.hidden = zone.hidden = !show;
    if (!show) continue;
    const left = `calc(7px + ${t.toFixed(4)} * (100% - 14px))`;
    marker.style.left = left;
    zone.style.left = left;
    marker.dataset.label = name === "gd" ? "2/L" : "edge";
    marker.classList.toggle("ref", name !== "gd");
    marker.title =
      name === "gd"
        ? `2/L = ${fmt(e, 3)}: gradient descent diverges above it (L: the largest curvature at the start)`
        : `${fmt(e, 3)}: the learning rate above which ${name} diverges on the quadratic model at the start (${name === "momentum" ? "2(1+β)/L" : "2(1+β)/((1+2β)L)"})`;
  }
  el.edgeInfo.textContent = "";
  if (!edge) return;
  if (isNum(edge.two_over_L) && edge.two_over_L > 0) {
    const L = 2 / edge.two_over_L;
    el.edgeInfo.append(
      "At the start the largest curvature is L ≈ ",
      make("code", { text: fmt(L, 3) }),
      ": gradient descent diverges for lr > 2/L ≈ ",
      make("code", { text: fmt(edge.two_over_L, 3) }),
      " (red mark on the sliders).",
    );
  } else {
    el.edgeInfo.append("f curves down at the start (L ≤ 0): no 2/L edge there.");
  }
  if (edge.rule) el.edgeInfo.title = String(edge.rule);
}

function updateInfo() {
  el.info.textContent = "";
  if (state.formula) {
    if (landscape && landscapeSource === sourceKey()) {
      const d = landscape.defaultDomain || landscape.domain;
      el.info.append(`variables ${landscape.variables.join(", ")} · domain [${fmt(d[0][0])}, ${fmt(d[0][1])}] × [${fmt(d[1][0])}, ${fmt(d[1][1])}]`);
    }
    return;
  }
  const fn = currentFn();
  if (!fn) return;
  if (fn.formula) el.info.append(make("code", { text: fn.formula }), make("br"));
  if (fn.description) el.info.append(fn.description);
}

function showFormulaError(message, column) {
  const box = el.formulaError;
  box.textContent = "";
  box.append(make("div", { class: "msg", text: message }));
  if (Number.isInteger(column) && column >= 1) {
    const text = state.formula.replace(/\t/g, " ");
    const pre = make("pre", { "aria-hidden": "true" });
    pre.append(text + "\n" + " ".repeat(column - 1), make("span", { class: "caret", text: "^" }));
    box.append(pre);
    box.dataset.column = String(column);
  } else {
    delete box.dataset.column;
  }
  box.hidden = false;
  el.formula.setAttribute("aria-invalid", "true");
}

function clearFormulaError() {
  el.formulaError.hidden = true;
  el.formulaError.textContent = "";
  delete el.formulaError.dataset.column;
  el.formula.removeAttribute("aria-invalid");
}

// ------------------------------------------------------------------ canvases

const MAP_MARGIN = { l: 48, r: 12, t: 12, b: 34 };
let dpr = 1;
let plot = { x: 0, y: 0, w: 1, h: 1 };
const bg = document.createElement("canvas");

function sizeCanvas(canvas, wrap) {
  const r = wrap.getBoundingClientRect();
  const w = Math.max(50, Math.round(r.width)), h = Math.max(50, Math.round(r.height));
  dpr = window.devicePixelRatio || 1;
  const W = Math.round(w * dpr), H = Math.round(h * dpr);
  if (canvas.width !== W || canvas.height !== H) {
    canvas.width = W;
    canvas.height = H;
  }
  return { w, h };
}

let mapSize = { w: 1, h: 1 };
function layoutMap() {
  // A wide domain gets a wide map (no empty band under it); a tall one is letterboxed.
  const dom = drawDomain();
  const ratio = clamp((dom[1][1] - dom[1][0]) / (dom[0][1] - dom[0][0]) || 1, 0.5, 2);
  const wrapW = el.mapWrap.getBoundingClientRect().width;
  const wantH = ratio < 1 ? Math.round((wrapW - MAP_MARGIN.l - MAP_MARGIN.r) * ratio + MAP_MARGIN.t + MAP_MARGIN.b) : 0;
  const wrapAspect = wantH ? `${Math.round(wrapW)} / ${wantH}` : "";
  if (el.mapWrap.style.aspectRatio !== wrapAspect) el.mapWrap.style.aspectRatio = wrapAspect;
  mapSize = sizeCanvas(el.map, el.mapWrap);
  bg.width = el.map.width;
  bg.height = el.map.height;
  const d = drawDomain();
  const availW = mapSize.w - MAP_MARGIN.l - MAP_MARGIN.r;
  const availH = mapSize.h - MAP_MARGIN.t - MAP_MARGIN.b;
  // Equal scales on both axes (so the gradient is drawn perpendicular to the contours),
  // unless the domain is very elongated.
  const aspect = clamp((d[1][1] - d[1][0]) / (d[0][1] - d[0][0]) || 1, 0.5, 2);
  let w = availW, h = availW * aspect;
  if (h > availH) {
    h = availH;
    w = availH / aspect;
  }
  plot = { x: MAP_MARGIN.l + (availW - w) / 2, y: MAP_MARGIN.t + (availH - h) / 2, w, h };
}

const X = (x) => {
  const d = drawDomain();
  return plot.x + ((x - d[0][0]) / (d[0][1] - d[0][0])) * plot.w;
};
const Y = (y) => {
  const d = drawDomain();
  return plot.y + (1 - (y - d[1][0]) / (d[1][1] - d[1][0])) * plot.h;
};
function toData(px, py) {
  const d = drawDomain();
  return [d[0][0] + ((px - plot.x) / plot.w) * (d[0][1] - d[0][0]), d[1][0] + (1 - (py - plot.y) / plot.h) * (d[1][1] - d[1][0])];
}

// f at (x, y) by bilinear interpolation on the landscape grid (NaN outside or non-finite).
function sampleF(x, y) {
  const L = landscape;
  if (!L || L.nx < 2 || L.ny < 2) return NaN;
  const fx = ((x - L.x[0]) / (L.x[L.nx - 1] - L.x[0])) * (L.nx - 1);
  const fy = ((y - L.y[0]) / (L.y[L.ny - 1] - L.y[0])) * (L.ny - 1);
  if (!(fx >= 0 && fy >= 0 && fx <= L.nx - 1 && fy <= L.ny - 1)) return NaN;
  const i = Math.min(L.nx - 2, Math.floor(fx)), j = Math.min(L.ny - 2, Math.floor(fy));
  const u = fx - i, v = fy - j;
  const a = L.f[j * L.nx + i], b = L.f[j * L.nx + i + 1], c = L.f[(j + 1) * L.nx + i + 1], e = L.f[(j + 1) * L.nx + i];
  const val = (1 - v) * ((1 - u) * a + u * b) + v * ((1 - u) * e + u * c);
  if (Number.isFinite(val)) return val;
  const near = L.f[Math.round(fy) * L.nx + Math.round(fx)];
  return near;
}

function bandIndex(levels, v) {
  let lo = 0, hi = levels.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (levels[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo; // number of levels <= v
}

// The static layer: filled contours, basins, contour lines, arrows, minima, axes.
function renderBackground() {
  layoutMap();
  const ctx = bg.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, bg.width, bg.height);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  if (!landscape) {
    ctx.fillStyle = "#f0f2f5";
    ctx.fillRect(plot.x, plot.y, plot.w, plot.h);
    drawAxes(ctx);
    return;
  }
  drawFill(ctx);
  ctx.save();
  ctx.beginPath();
  ctx.rect(plot.x, plot.y, plot.w, plot.h);
  ctx.clip();
  if (state.basins && basins) drawBasins(ctx);
  drawContours(ctx);
  if (state.arrows) drawArrows(ctx);
  drawMinima(ctx);
  ctx.restore();
  drawAxes(ctx);
}

function drawFill(ctx) {
  const L = landscape;
  const levels = L.levels;
  const lut = [];
  for (let b = 0; b <= levels.length; b++) lut.push(viridis(levels.length ? b / levels.length : 0.5));
  const x0 = Math.round(plot.x * dpr), y0 = Math.round(plot.y * dpr);
  const pw = Math.max(1, Math.round(plot.w * dpr)), ph = Math.max(1, Math.round(plot.h * dpr));
  const img = ctx.createImageData(pw, ph);
  const data = img.data;
  const d = L.domain;
  for (let py = 0; py < ph; py++) {
    const y = d[1][1] - ((py + 0.5) / ph) * (d[1][1] - d[1][0]);
    for (let px = 0; px < pw; px++) {
      const x = d[0][0] + ((px + 0.5) / pw) * (d[0][1] - d[0][0]);
      const v = sampleF(x, y);
      const k = (py * pw + px) * 4;
      if (Number.isFinite(v)) {
        const c = lut[bandIndex(levels, v)];
        data[k] = c[0];
        data[k + 1] = c[1];
        data[k + 2] = c[2];
      } else {
        data[k] = data[k + 1] = data[k + 2] = 205; // not finite: grey
      }
      data[k + 3] = 255;
    }
  }
  ctx.putImageData(img, x0, y0);
}

function drawContours(ctx) {
  const L = landscape;
  const { nx, ny, f } = L;
  if (nx < 2 || ny < 2) return;
  const px = L.x.map(X), py = L.y.map(Y);
  const path = new Path2D();
  const seg = (ax, ay, bx, by) => {
    path.moveTo(ax, ay);
    path.lineTo(bx, by);
  };
  for (const lev of L.levels) {
    for (let j = 0; j < ny - 1; j++) {
      for (let i = 0; i < nx - 1; i++) {
        const a = f[j * nx + i], b = f[j * nx + i + 1], c = f[(j + 1) * nx + i + 1], d = f[(j + 1) * nx + i];
        if (!(Number.isFinite(a) && Number.isFinite(b) && Number.isFinite(c) && Number.isFinite(d))) continue;
        const code = (a > lev ? 1 : 0) | (b > lev ? 2 : 0) | (c > lev ? 4 : 0) | (d > lev ? 8 : 0);
        if (code === 0 || code === 15) continue;
        const xl = px[i], xr = px[i + 1], yb = py[j], yt = py[j + 1];
        // edge points: e0 bottom (a-b), e1 right (b-c), e2 top (d-c), e3 left (a-d)
        const e0 = () => [xl + ((lev - a) / (b - a)) * (xr - xl), yb];
        const e1 = () => [xr, yb + ((lev - b) / (c - b)) * (yt - yb)];
        const e2 = () => [xl + ((lev - d) / (c - d)) * (xr - xl), yt];
        const e3 = () => [xl, yb + ((lev - a) / (d - a)) * (yt - yb)];
        const line = (p, q) => seg(p[0], p[1], q[0], q[1]);
        switch (code) {
          case 1: case 14: line(e3(), e0()); break;
          case 2: case 13: line(e0(), e1()); break;
          case 3: case 12: line(e3(), e1()); break;
          case 4: case 11: line(e1(), e2()); break;
          case 6: case 9: line(e0(), e2()); break;
          case 7: case 8: line(e3(), e2()); break;
          case 5: // a and c above: a saddle, decided by the centre
            if ((a + b + c + d) / 4 > lev) { line(e0(), e1()); line(e2(), e3()); }
            else { line(e3(), e0()); line(e1(), e2()); }
            break;
          case 10: // b and d above
            if ((a + b + c + d) / 4 > lev) { line(e3(), e0()); line(e1(), e2()); }
            else { line(e0(), e1()); line(e2(), e3()); }
            break;
        }
      }
    }
  }
  ctx.lineWidth = 0.7;
  ctx.strokeStyle = "rgba(25, 25, 45, 0.42)";
  ctx.stroke(path);
}

function drawBasins(ctx) {
  const B = basins;
  const nx = B.x.length, ny = B.y.length;
  if (!nx || !ny) return;
  const edges = (arr, map) => {
    const out = [];
    for (let k = 0; k <= arr.length; k++) {
      const v = k === 0 ? arr[0] - (arr.length > 1 ? (arr[1] - arr[0]) / 2 : 0.5) : k === arr.length ? arr[k - 1] + (arr.length > 1 ? (arr[k - 1] - arr[k - 2]) / 2 : 0.5) : (arr[k - 1] + arr[k]) / 2;
      out.push(map(v));
    }
    return out;
  };
  const ex = edges(B.x, X), ey = edges(B.y, Y);
  // one pixel per cell, scaled up without smoothing, then laid on at one alpha
  const cells = document.createElement("canvas");
  cells.width = nx;
  cells.height = ny;
  const cctx = cells.getContext("2d");
  const img = cctx.createImageData(nx, ny);
  const rgb = BASIN_COLORS.map(hexToRgb);
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const lab = B.labels[j * nx + i];
      const c = lab < 0 ? [70, 70, 70] : rgb[lab % rgb.length];
      const k = ((ny - 1 - j) * nx + i) * 4;
      img.data[k] = c[0];
      img.data[k + 1] = c[1];
      img.data[k + 2] = c[2];
      img.data[k + 3] = 255;
    }
  }
  cctx.putImageData(img, 0, 0);
  ctx.save();
  ctx.globalAlpha = 0.45;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(cells, ex[0], ey[ny], ex[nx] - ex[0], ey[0] - ey[ny]);
  ctx.restore();
  // boundaries between basins
  ctx.beginPath();
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const lab = B.labels[j * nx + i];
      if (i + 1 < nx && B.labels[j * nx + i + 1] !== lab) {
        ctx.moveTo(ex[i + 1], ey[j]);
        ctx.lineTo(ex[i + 1], ey[j + 1]);
      }
      if (j + 1 < ny && B.labels[(j + 1) * nx + i] !== lab) {
        ctx.moveTo(ex[i], ey[j + 1]);
        ctx.lineTo(ex[i + 1], ey[j + 1]);
      }
    }
  }
  ctx.lineWidth = 1.2;
  ctx.strokeStyle = "rgba(255, 255, 255, 0.8)";
  ctx.stroke();
  // each basin's minimum, ringed in its colour
  B.minima.forEach((m, k) => {
    ctx.beginPath();
    ctx.arc(X(m[0]), Y(m[1]), 8, 0, 2 * Math.PI);
    ctx.lineWidth = 3;
    ctx.strokeStyle = BASIN_COLORS[k % BASIN_COLORS.length];
    ctx.stroke();
  });
}

function drawArrows(ctx) {
  const G = landscape.grad;
  if (!G) return;
  const nx = G.x.length, ny = G.y.length;
  const d = drawDomain();
  const sx = plot.w / (d[0][1] - d[0][0]), sy = plot.h / (d[1][1] - d[1][0]);
  const cell = Math.min(plot.w / Math.max(1, nx), plot.h / Math.max(1, ny));
  const logs = [];
  for (let k = 0; k < nx * ny; k++) {
    const m = Math.hypot(G.gx[k], G.gy[k]);
    if (Number.isFinite(m) && m > 0) logs.push(Math.log10(m));
  }
  if (!logs.length) return;
  logs.sort((a, b) => a - b);
  const lo = logs[Math.floor(0.05 * (logs.length - 1))], hi = logs[logs.length - 1];
  const arrows = [];
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const gx = G.gx[j * nx + i], gy = G.gy[j * nx + i];
      const m = Math.hypot(gx, gy);
      if (!Number.isFinite(m) || m === 0) continue;
      // downhill: -grad f, in pixels (y flipped)
      let dx = -gx * sx, dy = gy * sy;
      const n = Math.hypot(dx, dy);
      if (!(n > 0)) continue;
      const t = hi > lo ? clamp((Math.log10(m) - lo) / (hi - lo), 0, 1) : 1;
      const len = cell * 0.85 * (0.3 + 0.7 * t);
      dx = (dx / n) * len;
      dy = (dy / n) * len;
      const x0 = X(G.x[i]) - dx / 2, y0 = Y(G.y[j]) - dy / 2;
      arrows.push([x0, y0, x0 + dx, y0 + dy, len]);
    }
  }
  const draw = (width, color) => {
    ctx.beginPath();
    for (const [x0, y0, x1, y1, len] of arrows) {
      const h = Math.min(5, len * 0.4);
      const ang = Math.atan2(y1 - y0, x1 - x0);
      ctx.moveTo(x0, y0);
      ctx.lineTo(x1, y1);
      ctx.moveTo(x1 - h * Math.cos(ang - 0.45), y1 - h * Math.sin(ang - 0.45));
      ctx.lineTo(x1, y1);
      ctx.lineTo(x1 - h * Math.cos(ang + 0.45), y1 - h * Math.sin(ang + 0.45));
    }
    ctx.lineWidth = width;
    ctx.strokeStyle = color;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.stroke();
  };
  draw(2.4, "rgba(20, 20, 30, 0.35)");
  draw(1.0, "rgba(255, 255, 255, 0.85)");
}

function drawStar(ctx, x, y, r) {
  ctx.beginPath();
  for (let k = 0; k < 10; k++) {
    const rr = k % 2 ? r * 0.45 : r;
    const a = -Math.PI / 2 + (k * Math.PI) / 5;
    ctx.lineTo(x + rr * Math.cos(a), y + rr * Math.sin(a));
  }
  ctx.closePath();
}

function drawMinima(ctx) {
  const mins = landscape.minima;
  if (!mins.length) return;
  const fs = mins.map((m) => m[2]).filter(isNum);
  const best = fs.length ? Math.min(...fs) : NaN;
  for (const m of mins) {
    const x = X(m[0]), y = Y(m[1]);
    const global = isNum(m[2]) && m[2] <= best + 1e-6 * Math.max(1, Math.abs(best));
    if (global) drawStar(ctx, x, y, 7.5);
    else {
      ctx.beginPath();
      ctx.arc(x, y, 4, 0, 2 * Math.PI);
    }
    ctx.fillStyle = "#ffffff";
    ctx.fill();
    ctx.lineWidth = 1.3;
    ctx.strokeStyle = "#1d2330";
    ctx.stroke();
  }
}

function drawAxes(ctx) {
  const d = drawDomain();
  ctx.strokeStyle = "#8a93a3";
  ctx.lineWidth = 1;
  ctx.strokeRect(plot.x, plot.y, plot.w, plot.h);
  ctx.fillStyle = "#4a5263";
  ctx.font = "11px system-ui, sans-serif";
  const tx = niceTicks(d[0][0], d[0][1], Math.max(3, Math.floor(plot.w / 80)));
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  ctx.beginPath();
  for (const t of tx.ticks) {
    const x = X(t);
    ctx.moveTo(x, plot.y + plot.h);
    ctx.lineTo(x, plot.y + plot.h + 4);
    ctx.fillText(tickLabel(t, tx.step), x, plot.y + plot.h + 6);
  }
  const ty = niceTicks(d[1][0], d[1][1], Math.max(3, Math.floor(plot.h / 70)));
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of ty.ticks) {
    const y = Y(t);
    ctx.moveTo(plot.x - 4, y);
    ctx.lineTo(plot.x, y);
    ctx.fillText(tickLabel(t, ty.step), plot.x - 6, y);
  }
  ctx.stroke();
  const vars = landscape?.variables || ["x", "y"];
  ctx.font = "italic 12px system-ui, sans-serif";
  ctx.textAlign = "right";
  ctx.textBaseline = "top";
  ctx.fillText(vars[0], plot.x + plot.w, plot.y + plot.h + 20);
  ctx.textAlign = "left";
  ctx.textBaseline = "bottom";
  ctx.fillText(vars[1], 4, plot.y + 10);
}

// Pixel coordinates kept finite and moderate for runaway paths.
const safe = (v) => clamp(v, -1e5, 1e5);

// The moving layer: the static image, then paths, the start, the zoom box, the legend.
function drawMap() {
  const ctx = el.map.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, el.map.width, el.map.height);
  ctx.drawImage(bg, 0, 0);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.save();
  ctx.beginPath();
  ctx.rect(plot.x, plot.y, plot.w, plot.h);
  ctx.clip();
  if (!invalid) {
    for (const run of runs) drawPath(ctx, run);
  }
  if (state.start && !invalid) drawStart(ctx, X(state.start[0]), Y(state.start[1]));
  ctx.restore();

  if (drag && drag.moved) {
    const x = Math.min(drag.x0, drag.x1), y = Math.min(drag.y0, drag.y1);
    ctx.fillStyle = "rgba(255, 255, 255, 0.18)";
    ctx.fillRect(x, y, Math.abs(drag.x1 - drag.x0), Math.abs(drag.y1 - drag.y0));
    ctx.setLineDash([5, 4]);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#ffffff";
    ctx.strokeRect(x, y, Math.abs(drag.x1 - drag.x0), Math.abs(drag.y1 - drag.y0));
    ctx.strokeStyle = "#1d2330";
    ctx.lineDashOffset = 4;
    ctx.strokeRect(x, y, Math.abs(drag.x1 - drag.x0), Math.abs(drag.y1 - drag.y0));
    ctx.setLineDash([]);
    ctx.lineDashOffset = 0;
  }
  if (!invalid) drawLegend(ctx);
  if (invalid || !landscape) {
    ctx.fillStyle = "rgba(255, 255, 255, 0.72)";
    ctx.fillRect(plot.x, plot.y, plot.w, plot.h);
    ctx.fillStyle = invalid ? "#8a1c1c" : "#4a5263";
    ctx.font = "14px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(invalid ? "the formula does not parse: see the message under it" : "loading…", plot.x + plot.w / 2, plot.y + plot.h / 2);
  }
}

function drawPath(ctx, run) {
  const color = optColor(run.optimizer);
  const last = Math.min(run.lastPoint, run.nit);
  if (last < 0) return;
  const k = Math.min(Math.floor(frame), last);
  const pts = [];
  for (let i = 0; i <= k; i++) pts.push([safe(X(run.path[i][0])), safe(Y(run.path[i][1]))]);
  // a partial segment towards the next point, for smooth animation
  let head = pts[pts.length - 1];
  if (k < last && frame > k) {
    const u = frame - k;
    const nxt = [safe(X(run.path[k + 1][0])), safe(Y(run.path[k + 1][1]))];
    head = [head[0] + u * (nxt[0] - head[0]), head[1] + u * (nxt[1] - head[1])];
    pts.push(head);
  }
  const stroke = (width, style) => {
    ctx.beginPath();
    pts.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.lineWidth = width;
    ctx.strokeStyle = style;
    ctx.lineJoin = "round";
    ctx.lineCap = "round";
    ctx.stroke();
  };
  stroke(4.6, "rgba(0, 0, 0, 0.55)");
  stroke(2.2, color);
  // step markers where they are far enough apart to be seen
  if (pts.length > 1 && pts.length < 400) {
    ctx.fillStyle = color;
    let px = -1e9, py = -1e9;
    for (let i = 0; i < Math.min(pts.length, k + 1); i++) {
      const [x, y] = pts[i];
      if (Math.hypot(x - px, y - py) < 7) continue;
      px = x;
      py = y;
      ctx.beginPath();
      ctx.arc(x, y, 2.1, 0, 2 * Math.PI);
      ctx.fill();
      ctx.lineWidth = 0.8;
      ctx.strokeStyle = "rgba(0, 0, 0, 0.6)";
      ctx.stroke();
    }
  }
  // the head: a dot while moving; at the end a ring (converged) or a cross (failed)
  const done = frame >= run.nit || k >= last && frame >= last;
  const [hx, hy] = head;
  if (done && !run.success && ["diverged", "nonfinite", "unbounded"].includes(run.status)) {
    ctx.beginPath();
    ctx.moveTo(hx - 6, hy - 6);
    ctx.lineTo(hx + 6, hy + 6);
    ctx.moveTo(hx + 6, hy - 6);
    ctx.lineTo(hx - 6, hy + 6);
    ctx.lineWidth = 5;
    ctx.strokeStyle = "rgba(0, 0, 0, 0.6)";
    ctx.stroke();
    ctx.lineWidth = 2.5;
    ctx.strokeStyle = color;
    ctx.stroke();
  } else {
    ctx.beginPath();
    ctx.arc(hx, hy, done ? 5.5 : 5, 0, 2 * Math.PI);
    ctx.fillStyle = done ? "rgba(255,255,255,0.9)" : color;
    ctx.fill();
    ctx.lineWidth = done ? 2.5 : 1.5;
    ctx.strokeStyle = done ? color : "#111";
    ctx.stroke();
  }
}

function drawStart(ctx, x, y) {
  ctx.beginPath();
  ctx.arc(x, y, 6.5, 0, 2 * Math.PI);
  ctx.lineWidth = 4;
  ctx.strokeStyle = "rgba(0, 0, 0, 0.6)";
  ctx.stroke();
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#ffffff";
  ctx.stroke();
  ctx.beginPath();
  ctx.arc(x, y, 1.8, 0, 2 * Math.PI);
  ctx.fillStyle = "#ffffff";
  ctx.fill();
}

function drawLegend(ctx) {
  if (!runs.length) return;
  ctx.font = "12px system-ui, sans-serif";
  const rows = runs.map((r) => `${r.optimizer}  ${r.status}`);
  const w = Math.max(...rows.map((t) => ctx.measureText(t).width)) + 38;
  const h = rows.length * 17 + 8;
  const x = plot.x + plot.w - w - 8, y = plot.y + 8;
  ctx.fillStyle = "rgba(255, 255, 255, 0.86)";
  ctx.strokeStyle = "rgba(0, 0, 0, 0.2)";
  ctx.lineWidth = 1;
  ctx.fillRect(x, y, w, h);
  ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  runs.forEach((r, i) => {
    const yy = y + 12 + i * 17;
    ctx.beginPath();
    ctx.moveTo(x + 8, yy);
    ctx.lineTo(x + 26, yy);
    ctx.lineWidth = 4.5;
    ctx.strokeStyle = "rgba(0,0,0,0.55)";
    ctx.stroke();
    ctx.lineWidth = 2.5;
    ctx.strokeStyle = optColor(r.optimizer);
    ctx.stroke();
    ctx.fillStyle = "#1d2330";
    ctx.fillText(r.optimizer, x + 32, yy);
    ctx.fillStyle = r.success ? "#1a7f37" : ["diverged", "nonfinite", "unbounded"].includes(r.status) ? "#c62828" : "#9a6700";
    ctx.fillText(r.status, x + 32 + ctx.measureText(r.optimizer + "  ").width, yy);
  });
}

// ------------------------------------------------------------------ loss curves

let lossScale = null; // {offset, lo, hi, label}

function computeLossScale() {
  const vals = [];
  for (const r of runs) for (let i = 0; i <= Math.min(r.lastLoss, r.nit); i++) vals.push(r.loss[i]);
  if (!vals.length) {
    lossScale = null;
    el.lossLabel.textContent = "";
    return;
  }
  let minV = Infinity;
  for (const v of vals) if (v < minV) minV = v;
  const known = knownMinimum();
  let offset = 0, label = "f (log scale)";
  if (known !== null && minV >= known - 1e-4 * Math.max(1, Math.abs(known))) {
    offset = known;
    if (known !== 0) label = `f − f* (f* = ${fmt(known)}), log scale`;
  } else if (minV <= 0) {
    offset = minV;
    label = "f − (lowest f reached), log scale";
  }
  let hiV = -Infinity, loPos = Infinity;
  for (const v of vals) {
    const w = v - offset;
    if (w > hiV) hiV = w;
    if (w > 0 && w < loPos) loPos = w;
  }
  let hi = hiV > 0 ? hiV : 1;
  let lo = Number.isFinite(loPos) ? loPos : hi * 1e-12;
  lo = Math.max(lo, hi * 1e-50);
  let l0 = Math.floor(Math.log10(lo)), l1 = Math.ceil(Math.log10(hi));
  if (l1 <= l0) l1 = l0 + 1;
  lossScale = { offset, lo: l0, hi: l1, floor: 10 ** l0 };
  el.lossLabel.textContent = label;
}

function drawLoss() {
  const size = sizeCanvas(el.loss, el.lossWrap);
  const ctx = el.loss.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, el.loss.width, el.loss.height);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const m = { l: 44, r: 10, t: 8, b: 24 };
  const pw = size.w - m.l - m.r, ph = size.h - m.t - m.b;
  ctx.strokeStyle = "#8a93a3";
  ctx.lineWidth = 1;
  ctx.strokeRect(m.l, m.t, pw, ph);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#4a5263";
  if (!lossScale || !runs.length) {
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText("the loss of each run, step by step", m.l + pw / 2, m.t + ph / 2);
    return;
  }
  const S = lossScale;
  const xmax = Math.max(1, maxNit);
  const LX = (i) => m.l + (i / xmax) * pw;
  const LY = (v) => {
    const w = Math.max(v - S.offset, S.floor);
    return m.t + (1 - (Math.log10(w) - S.lo) / (S.hi - S.lo)) * ph;
  };
  // grid and ticks
  const decades = S.hi - S.lo;
  const every = Math.max(1, Math.ceil(decades / Math.max(2, Math.floor(ph / 28))));
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  ctx.beginPath();
  for (let k = S.lo; k <= S.hi; k++) {
    if ((k - S.lo) % every) continue;
    const y = m.t + (1 - (k - S.lo) / decades) * ph;
    ctx.moveTo(m.l, y);
    ctx.lineTo(m.l + pw, y);
    ctx.fillText(pow10Label(k), m.l - 4, y);
  }
  ctx.strokeStyle = "#eceef2";
  ctx.stroke();
  const tx = niceTicks(0, xmax, Math.max(2, Math.floor(pw / 60)));
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const t of tx.ticks) {
    const text = tickLabel(t, tx.step);
    ctx.textAlign = LX(t) + ctx.measureText(text).width / 2 > size.w - 1 ? "right" : "center";
    ctx.fillText(text, ctx.textAlign === "right" ? size.w - 1 : LX(t), m.t + ph + 4);
  }
  ctx.textAlign = "right";
  ctx.fillText("step", m.l + pw, m.t + ph + 13);

  ctx.save();
  ctx.beginPath();
  ctx.rect(m.l, m.t, pw, ph);
  ctx.clip();
  for (const r of runs) {
    const last = Math.min(r.lastLoss, r.nit, Math.floor(frame));
    if (last < 0) continue;
    ctx.beginPath();
    // at most ~2 points per pixel
    const stride = Math.max(1, Math.floor(last / (pw * 2)));
    for (let i = 0; i <= last; i += stride) {
      const y = LY(r.loss[i]);
      if (i === 0) ctx.moveTo(LX(i), y);
      else ctx.lineTo(LX(i), y);
    }
    ctx.lineTo(LX(last), LY(r.loss[last]));
    ctx.lineWidth = 3.6;
    ctx.strokeStyle = "rgba(0,0,0,0.25)";
    ctx.lineJoin = "round";
    ctx.stroke();
    ctx.lineWidth = 1.8;
    ctx.strokeStyle = optColor(r.optimizer);
    ctx.stroke();
    if (last < r.nit && last === r.lastLoss) {
      // non-finite after this point: mark where the curve stops
      ctx.fillStyle = optColor(r.optimizer);
      ctx.font = "bold 12px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText("×", LX(last), LY(r.loss[last]));
    }
  }
  ctx.restore();
  // playhead
  if (frame < maxNit) {
    ctx.beginPath();
    ctx.moveTo(LX(frame), m.t);
    ctx.lineTo(LX(frame), m.t + ph);
    ctx.strokeStyle = "rgba(11, 99, 197, 0.5)";
    ctx.lineWidth = 1;
    ctx.stroke();
  }
}

function drawAll() {
  drawMap();
  drawLoss();
  updateLive();
  updatePlayButtons();
}

// ------------------------------------------------------------------ animation

function tick(ts) {
  rafId = 0;
  if (!playing) return;
  const dt = lastTs === null ? 0 : Math.min(0.1, (ts - lastTs) / 1000);
  lastTs = ts;
  frame = Math.min(maxNit, frame + state.speed * dt);
  if (frame >= maxNit) playing = false;
  drawAll();
  if (playing) rafId = requestAnimationFrame(tick);
}

function play() {
  if (!runs.length && maxNit === 0) {
    playing = true; // start as soon as runs arrive
    updatePlayButtons();
    return;
  }
  if (frame >= maxNit) frame = 0;
  playing = true;
  lastTs = null;
  if (!rafId) rafId = requestAnimationFrame(tick);
  updatePlayButtons();
}

function pause() {
  playing = false;
  if (rafId) cancelAnimationFrame(rafId);
  rafId = 0;
  drawAll();
}

function stepBy(n) {
  pause();
  frame = clamp(Math.floor(frame + (n < 0 && frame % 1 ? 1 : 0)) + n, 0, maxNit);
  drawAll();
}

function updatePlayButtons() {
  el.play.classList.toggle("active", playing);
  el.pause.classList.toggle("active", !playing && frame > 0 && frame < maxNit);
  el.step.disabled = frame >= maxNit;
}

// ------------------------------------------------------------------ map interaction

let drag = null;

function canvasPoint(e) {
  const r = el.map.getBoundingClientRect();
  return [e.clientX - r.left, e.clientY - r.top];
}

const inPlot = (x, y) => x >= plot.x && x <= plot.x + plot.w && y >= plot.y && y <= plot.y + plot.h;

function onPointerDown(e) {
  if (e.button !== 0) return;
  const [x, y] = canvasPoint(e);
  if (!inPlot(x, y)) return;
  drag = { x0: x, y0: y, x1: x, y1: y, moved: false };
  el.map.setPointerCapture(e.pointerId);
}

function onPointerMove(e) {
  const [x, y] = canvasPoint(e);
  if (drag) {
    drag.x1 = clamp(x, plot.x, plot.x + plot.w);
    drag.y1 = clamp(y, plot.y, plot.y + plot.h);
    if (Math.hypot(drag.x1 - drag.x0, drag.y1 - drag.y0) > 6) drag.moved = true;
    if (drag.moved) drawMap();
  }
  if (inPlot(x, y) && landscape) {
    const [dx, dy] = toData(x, y);
    const vars = landscape.variables;
    el.readout.textContent = `${vars[0]} = ${fmt(dx, 4)}, ${vars[1]} = ${fmt(dy, 4)}, f ≈ ${fmt(sampleF(dx, dy), 4)}`;
  } else {
    el.readout.textContent = "\u00a0";
  }
}

function onPointerUp(e) {
  if (!drag) return;
  const g = drag;
  drag = null;
  if (el.map.hasPointerCapture(e.pointerId)) el.map.releasePointerCapture(e.pointerId);
  if (g.moved) {
    drawMap();
    if (Math.abs(g.x1 - g.x0) < 8 || Math.abs(g.y1 - g.y0) < 8) return;
    const [ax, ay] = toData(Math.min(g.x0, g.x1), Math.max(g.y0, g.y1));
    const [bx, by] = toData(Math.max(g.x0, g.x1), Math.min(g.y0, g.y1));
    // about four significant digits of the box's size
    const sx = 10 ** (Math.floor(Math.log10(bx - ax)) - 3), sy = 10 ** (Math.floor(Math.log10(by - ay)) - 3);
    const r = (v, s) => Number((Math.round(v / s) * s).toPrecision(12));
    state.view = [[r(ax, sx), r(bx, sx)], [r(ay, sy), r(by, sy)]];
    sync(0);
    return;
  }
  const d = drawDomain();
  const [x, y] = toData(g.x0, g.y0);
  state.start = [roundTo(x, d[0][1] - d[0][0]), roundTo(y, d[1][1] - d[1][0])];
  pendingRestart = true;
  drawMap();
  sync(0);
}

// ------------------------------------------------------------------ export

function baseName() {
  const name = state.formula ? "formula" : state.fn || "function";
  return "descend-" + name.replace(/[^A-Za-z0-9_-]+/g, "-");
}

function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = make("a", { href: url, download: filename });
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 2000);
}

function exportPNG() {
  const pad = Math.round(12 * dpr);
  const title = Math.round(26 * dpr);
  const m = el.map, l = el.loss;
  const lines = runs.map((r) => `${r.optimizer}: ${headline(r).text}`);
  const lineH = Math.round(16 * dpr);
  const measure = document.createElement("canvas").getContext("2d");
  measure.font = `${Math.round(12 * dpr)}px system-ui, sans-serif`;
  const textW = Math.max(0, ...lines.map((t) => measure.measureText(t).width + 20 * dpr));
  const W = m.width + Math.max(l.width, Math.ceil(textW)) + 3 * pad;
  const H = title + Math.max(m.height, l.height + pad + lines.length * lineH) + pad;
  const c = document.createElement("canvas");
  c.width = W;
  c.height = H;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = "#1d2330";
  ctx.font = `${Math.round(13 * dpr)}px system-ui, sans-serif`;
  ctx.textBaseline = "middle";
  const what = state.formula ? `f = ${state.formula}` : state.fn;
  const start = state.start ? ` · start (${state.start.join(", ")})` : "";
  ctx.fillText(`descend · ${what}${start} · max ${state.steps} steps`, pad, title / 2 + pad / 2);
  ctx.drawImage(m, pad, title);
  ctx.drawImage(l, m.width + 2 * pad, title);
  ctx.font = `${Math.round(12 * dpr)}px system-ui, sans-serif`;
  lines.forEach((t, i) => {
    ctx.fillStyle = optColor(runs[i].optimizer);
    ctx.fillRect(m.width + 2 * pad, title + l.height + pad + i * lineH + lineH / 2 - 2 * dpr, 14 * dpr, 4 * dpr);
    ctx.fillStyle = "#1d2330";
    ctx.fillText(t, m.width + 2 * pad + 20 * dpr, title + l.height + pad + i * lineH + lineH / 2);
  });
  c.toBlob((blob) => blob && download(blob, baseName() + ".png"), "image/png");
}

function csvCell(v) {
  if (v === null || v === undefined) return "";
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function exportCSV() {
  const rows = [["optimizer", "learning_rate", "step", "x", "y", "loss", "status"]];
  for (const r of runs) {
    const n = Math.max(r.path.length, r.loss.length);
    for (let i = 0; i < n; i++) {
      const p = r.path[i];
      const px = Array.isArray(p) ? p[0] : null, py = Array.isArray(p) ? p[1] : null;
      rows.push([r.optimizer, r.hyper.learning_rate, i, px, py, r.loss[i], i === n - 1 ? r.status : ""]);
    }
  }
  download(new Blob([rows.map((r) => r.map(csvCell).join(",")).join("\n") + "\n"], { type: "text/csv" }), baseName() + "-paths.csv");
}

function exportJSON() {
  const out = {
    ...sourceBody(),
    start: state.start,
    steps: state.steps,
    domain: drawDomain(),
    link: location.href,
    edge,
    runs: runs.map((r) => ({ optimizer: r.optimizer, hyper: r.hyper, status: r.status, success: r.success, message: r.message, nit: r.nit, path: r.path, loss: r.loss })),
  };
  download(new Blob([JSON.stringify(out) + "\n"], { type: "application/json" }), baseName() + "-paths.json");
}

function pythonCall(name) {
  const h = state.hyper[name];
  const args = [pyNum(h.learning_rate)];
  for (const p of paramsOf(name)) if (p !== "learning_rate") args.push(`${p}=${pyNum(h[p])}`);
  return `ds.${name}(${args.join(", ")})`;
}

function updateSnippet() {
  const lines = ["import descend as ds", ""];
  if (state.formula) lines.push(`f = ${JSON.stringify(state.formula)}   # a formula`);
  else lines.push(`f = ${JSON.stringify(state.fn)}   # or a formula string`);
  lines.push(`x0 = [${(state.start || [0, 0]).map(pyNum).join(", ")}]`);
  if (!state.selected.length) lines.push("# pick an optimizer on the page");
  for (const name of state.selected) {
    lines.push(`res_${name.replace(/\W/g, "_")} = ds.minimize(f, x0, ${pythonCall(name)}, max_steps=${state.steps})`);
  }
  if (state.selected.length) {
    lines.push("");
    lines.push(`for res in (${state.selected.map((n) => "res_" + n.replace(/\W/g, "_")).join(", ")}${state.selected.length === 1 ? "," : ""}):`);
    lines.push("    print(res.status, res.message)");
  }
  el.snippet.value = lines.join("\n");
}

async function copyText(text, note) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    el.snippet.focus();
    el.snippet.select();
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
  }
  el.copyNote.textContent = ok ? note : "select and copy by hand";
  setTimeout(() => (el.copyNote.textContent = ""), 1800);
}

// ------------------------------------------------------------------ events

function wire() {
  el.select.addEventListener("change", () => {
    if (!el.select.value) return;
    state.fn = el.select.value;
    state.formula = "";
    el.formula.value = "";
    clearFormulaError();
    invalid = false;
    state.view = null;
    state.start = defaultStart(null);
    runs = [];
    afterRuns();
    pendingRestart = true;
    updateInfo();
    sync(0);
  });

  const formulaChanged = () => {
    const text = el.formula.value.trim();
    if (text === state.formula) return;
    state.formula = text;
    state.view = null;
    pendingRestart = true;
    if (!text) {
      invalid = false;
      clearFormulaError();
      el.select.value = state.fn;
      state.start = defaultStart(null);
    } else {
      el.select.value = "";
    }
    updateInfo();
    sync(0);
  };
  el.formula.addEventListener("input", () => schedule("formula", formulaChanged, 350));
  el.formula.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      clearTimeout(timers.get("formula"));
      timers.delete("formula");
      formulaChanged();
    }
  });

  const stepsChanged = (delay) => {
    const v = Math.round(Number(el.steps.value));
    if (!Number.isFinite(v) || v < 1) return;
    state.steps = Math.min(v, MAX_STEPS);
    sync(delay);
  };
  el.steps.addEventListener("input", () => stepsChanged(300));
  el.steps.addEventListener("change", () => {
    stepsChanged(0);
    el.steps.value = String(state.steps);
  });

  el.play.addEventListener("click", play);
  el.pause.addEventListener("click", pause);
  el.step.addEventListener("click", () => stepBy(1));
  el.speed.addEventListener("input", () => {
    state.speed = Math.round(10 ** Number(el.speed.value));
    el.speedValue.textContent = `${state.speed} steps/s`;
    writeURL();
  });
  el.arrows.addEventListener("change", () => {
    state.arrows = el.arrows.checked;
    renderBackground();
    drawMap();
    sync(0);
  });
  el.basins.addEventListener("change", () => {
    state.basins = el.basins.checked;
    updateBasinsInfo();
    sync(0);
  });
  el.resetZoom.addEventListener("click", () => {
    state.view = null;
    sync(0);
  });

  el.map.addEventListener("pointerdown", onPointerDown);
  el.map.addEventListener("pointermove", onPointerMove);
  el.map.addEventListener("pointerup", onPointerUp);
  el.map.addEventListener("pointercancel", () => {
    drag = null;
    drawMap();
  });
  el.map.addEventListener("pointerleave", () => {
    if (!drag) el.readout.textContent = "\u00a0";
  });

  el.exportPng.addEventListener("click", exportPNG);
  el.exportCsv.addEventListener("click", exportCSV);
  el.exportJson.addEventListener("click", exportJSON);
  el.copySnippet.addEventListener("click", () => copyText(el.snippet.value, "copied"));
  el.copyLink.addEventListener("click", () => copyText(location.href, "link copied"));

  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (t instanceof HTMLElement && (t.closest("input, select, textarea, button") || t.isContentEditable)) return;
    if (e.key === " ") {
      e.preventDefault();
      if (playing) pause();
      else play();
    } else if (e.key === "ArrowRight") {
      e.preventDefault();
      stepBy(1);
    } else if (e.key === "ArrowLeft") {
      e.preventDefault();
      stepBy(-1);
    }
  });

  // A link pasted into this tab: restore its picture.
  window.addEventListener("hashchange", () => {
    readURL();
    invalid = false;
    clearFormulaError();
    keys.landscape = null; // ask again: the formula may have been refused before
    pendingRestart = true;
    syncControls();
    sync(0);
  });

  const ro = new ResizeObserver(() => {
    renderBackground();
    drawAll();
  });
  ro.observe(el.mapWrap);
  ro.observe(el.lossWrap);
}

// ------------------------------------------------------------------ start

async function init() {
  document.body.dataset.state = "busy";
  wire();
  renderBackground();
  drawAll();
  await tracked(async () => {
    let res;
    for (let attempt = 0; ; attempt++) {
      try {
        const resp = await fetch("/api/functions", { headers: { Accept: "application/json" } });
        if (resp.status === 429 && attempt < 40) {
          await sleep(300);
          continue;
        }
        res = { ok: resp.ok, status: resp.status, data: await resp.json() };
      } catch (e) {
        res = { ok: false, status: 0, data: { error: e.message } };
      }
      break;
    }
    if (!res.ok) {
      showBanner("cannot load the function list: " + errorText(res));
      return;
    }
    functions = (res.data.functions || []).filter((f) => f && typeof f.name === "string");
    optDefaults = res.data.optimizers || {};
    optNames = [...OPT_ORDER.filter((n) => n in optDefaults), ...Object.keys(optDefaults).filter((n) => !OPT_ORDER.includes(n))];
    buildFunctionSelect();
    buildOptimizerList();
    readURL();
    syncControls();
    pendingRestart = true;
    buildStatusList();
    sync(0);
  });
}

init();
