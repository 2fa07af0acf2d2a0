// The web timeline: per-actor lanes, a date slider with each actor's state, fact details.
// Plain ES module, no framework, no build step; it talks only to this server's /v1 API.

const TYPES = [
  ["StrikeOccurred", "Strike", "#c0392b"],
  ["MissionSuspended", "Mission suspended", "#8e44ad"],
  ["MissionResumed", "Mission resumed", "#1e7b34"],
  ["PersonnelDeployed", "Personnel deployed", "#1f5fa8"],
  ["PersonnelRepositioned", "Personnel repositioned", "#b35900"],
  ["StatementIssued", "Statement", "#4d5656"],
];
const TYPE_COLOR = Object.fromEntries(TYPES.map(([t, , c]) => [t, c]));
const TYPE_LABEL = Object.fromEntries(TYPES.map(([t, l]) => [t, l]));
const DAY = 86_400_000;
const HOUR = 3_600_000;
const MAX_LANES_DEFAULT = 8;
const PAGE = 1000;          // the API's largest page
const DRAW_CAP = 1000;      // marks drawn per lane; beyond this a density strip
const MAX_PAGES = 3;        // pages fetched per lane when the stats endpoint is missing
const LIST_CAP = 200;       // rows in the accessible list of facts in view
const MIN_SPAN = HOUR;
const MAX_SPAN = 200 * 365 * DAY;
const SVGNS = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);

// --- view state, mirrored in the URL's query string ---------------------------------------

const view = {
  actors: [],
  types: null,        // null: every type
  date: null,         // YYYY-MM-DD, the slider's day (state at the end of it)
  asOf: null,         // ISO date-time with Z, or null for now
  reportedBy: null,   // YYYY-MM-DD or null
  from: null,         // visible window, ms since epoch
  to: null,
  fact: null,         // open fact's event_id
};

function readUrl() {
  const q = new URLSearchParams(location.search);
  const list = (name) => (q.get(name) || "").split(",").map((s) => s.trim()).filter(Boolean);
  view.actors = list("actors");
  view.types = q.has("types") ? list("types").filter((t) => TYPE_COLOR[t]) : null;
  // A link with a value the API would refuse opens without it, rather than as an error.
  view.date = isDay(q.get("date")) ? q.get("date") : null;
  view.asOf = utcAsOf(q.get("as_of"));
  view.reportedBy = isDay(q.get("reported_by")) || isInstant(q.get("reported_by")) ? q.get("reported_by") : null;
  const from = Date.parse(q.get("from") || "");
  const to = Date.parse(q.get("to") || "");
  [view.from, view.to] = Number.isFinite(from) && Number.isFinite(to) && to > from ? [from, to] : [null, null];
  view.fact = q.get("fact") || null;
}

function writeUrl(push = false) {
  const q = new URLSearchParams();
  if (view.actors.length) q.set("actors", view.actors.join(","));
  if (view.types) q.set("types", view.types.join(","));
  if (view.date) q.set("date", view.date);
  if (view.asOf) q.set("as_of", view.asOf);
  if (view.reportedBy) q.set("reported_by", view.reportedBy);
  if (view.from != null) {
    q.set("from", isoShort(view.from));
    q.set("to", isoShort(view.to));
  }
  if (view.fact) q.set("fact", view.fact);
  const url = `${location.pathname}?${q.toString().replaceAll("%2C", ",").replaceAll("%3A", ":")}`;
  if (url === location.pathname + location.search) return;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

// --- time helpers -------------------------------------------------------------------------

// A calendar day the API takes: year 1 on, and a real date (no 31 April).
function isDay(s) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s || "") || s < "0001-01-01") return false;
  const ms = Date.parse(`${s}T00:00:00Z`);
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 10) === s;
}

// A date-time with its offset, as the API asks of as_of and reported_by.
const isInstant = (s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s || "")
  && isDay(s.slice(0, 10)) && Number.isFinite(Date.parse(s));

// as_of in UTC, as the as-of field shows it; a day means its end, as in the API.
function utcAsOf(s) {
  if (isDay(s)) return `${s}T23:59:59.999999Z`;
  if (!isInstant(s)) return null;
  return s.endsWith("Z") ? s : isoShort(Date.parse(s));
}
const isoShort = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");
const dayOf = (ms) => new Date(ms).toISOString().slice(0, 10);
const dayStart = (day) => Date.parse(`${day}T00:00:00Z`);
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

function longDay(day) {
  const d = new Date(dayStart(day));
  return `${WEEKDAYS[d.getUTCDay()]} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

function fmtTime(text) {
  if (!text) return "—";
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) return text;
  const iso = new Date(ms).toISOString();
  return iso.endsWith("T00:00:00.000Z") ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

function fmtOccurred(fact) {
  const d = new Date(Date.parse(fact.occurred_at));
  const y = d.getUTCFullYear();
  let when;
  switch (fact.precision) {
    case "year": when = `${y}`; break;
    case "month": when = `${MONTHS[d.getUTCMonth()]} ${y}`; break;
    case "day": when = d.toISOString().slice(0, 10); break;
    default: when = fmtTime(fact.occurred_at);
  }
  if (fact.occurred_until) when += ` – ${fmtTime(fact.occurred_until)}`;
  return when;
}

// --- API ----------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

const TOKEN_KEY = "timeline-token";
let token = sessionStorage.getItem(TOKEN_KEY);

function takeTokenFromHash() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.has("token")) {
    token = hash.get("token");
    sessionStorage.setItem(TOKEN_KEY, token);
    hash.delete("token");
    const rest = hash.toString();
    history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  }
}

function timeAxes() {
  const p = {};
  if (view.asOf) p.as_of = view.asOf;
  if (view.reportedBy) p.reported_by = view.reportedBy;
  return p;
}

async function api(path, params = {}, { signal } = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== "") q.set(k, v);
  const url = q.size ? `${path}?${q}` : path;
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, { headers, signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "The server cannot be reached.");
  }
  if (response.ok) return response.json();
  let detail = response.statusText || `HTTP ${response.status}`;
  try {
    const body = await response.json();
    detail = body.detail || body.title || detail;
  } catch { /* not JSON */ }
  if (response.status === 401) askForToken(detail);
  throw new ApiError(response.status, detail);
}

function askForToken(detail) {
  const box = $("token-box");
  $("token-reason").textContent = token
    ? `The server refused the token (${detail}). Enter another one.`
    : `The API needs a bearer token to read (${detail}). Paste the token printed by serve --demo or given to you by the operator.`;
  if (box.hidden) {
    box.hidden = false;
    $("token-input").focus();
  }
  setStatus("Waiting for an access token.", true);
}

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function reportError(err, what) {
  if (err?.name === "AbortError") return;
  if (err instanceof ApiError && err.status === 401) return; // the token box says it
  setStatus(`${what}: ${err instanceof ApiError ? err.detail : err}`, true);
}

// --- actors -------------------------------------------------------------------------------

let actors = [];                 // every actor, most facts first
let actorById = new Map();
let span = { min: null, max: null };

async function loadActors() {
  const all = [];
  let cursor = null;
  for (let page = 0; page < 50; page++) {
    const body = await api("/v1/actors", { limit: PAGE, cursor });
    all.push(...body.items);
    cursor = body.next_cursor;
    if (!cursor) break;
  }
  actors = all.sort((a, b) => b.event_count - a.event_count || a.id.localeCompare(b.id));
  actorById = new Map(actors.map((a) => [a.id, a]));
  const firsts = actors.map((a) => Date.parse(a.first_occurred_at)).filter(Number.isFinite);
  const lasts = actors.map((a) => Date.parse(a.last_occurred_at)).filter(Number.isFinite);
  span = firsts.length
    ? { min: dayStart(dayOf(Math.min(...firsts))), max: dayStart(dayOf(Math.max(...lasts))) }
    : { min: dayStart(dayOf(Date.now())), max: dayStart(dayOf(Date.now())) };
}

const actorName = (id) => actorById.get(id)?.name || id;

function renderActorList() {
  const box = $("actor-list");
  const needle = $("actor-search").value.trim().toLowerCase();
  const selected = new Set(view.actors);
  const matches = actors.filter((a) => !needle || a.id.includes(needle) || a.name.toLowerCase().includes(needle)
    || a.aliases.some((al) => al.toLowerCase().includes(needle)));
  const shown = [...matches.filter((a) => selected.has(a.id)), ...matches.filter((a) => !selected.has(a.id))].slice(0, 150);
  box.replaceChildren(...shown.map((a) => {
    const row = document.createElement("div");
    row.className = "row";
    const input = document.createElement("input");
    input.type = "checkbox";
    input.id = `actor-${a.id}`;
    input.value = a.id;
    input.checked = selected.has(a.id);
    const label = document.createElement("label");
    label.htmlFor = input.id;
    label.textContent = `${a.name} `;
    const count = document.createElement("span");
    count.className = "muted";
    count.textContent = `(${a.event_count})`;
    label.append(count);
    row.append(input, label);
    return row;
  }));
  if (matches.length > shown.length) {
    const more = document.createElement("p");
    more.className = "muted";
    more.textContent = `${matches.length - shown.length} more: type to find them.`;
    box.append(more);
  }
  $("actor-count").textContent = `(${view.actors.length} of ${actors.length} shown)`;
}

function renderTypeList() {
  const box = $("type-list");
  box.replaceChildren(...TYPES.map(([type, label, color]) => {
    const row = document.createElement("div");
    row.className = "row";
    const input = document.createElement("input");
    input.type = "checkbox";
    input.id = `type-${type}`;
    input.value = type;
    input.checked = !view.types || view.types.includes(type);
    const lab = document.createElement("label");
    lab.htmlFor = input.id;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.backgroundColor = color;
    lab.append(swatch, label);
    row.append(input, lab);
    return row;
  }));
  $("legend").replaceChildren(...TYPES.map(([, label, color]) => {
    const item = document.createElement("span");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.backgroundColor = color;
    item.append(swatch, label);
    return item;
  }));
}

function renderAxesControls() {
  $("asof-now").checked = !view.asOf;
  $("asof-input").disabled = !view.asOf;
  if (view.asOf) $("asof-input").value = view.asOf.replace(/Z$/, "").slice(0, 19);
  $("reported-on").checked = !!view.reportedBy;
  $("reported-input").disabled = !view.reportedBy;
  if (view.reportedBy) $("reported-input").value = view.reportedBy.slice(0, 10);
}

// --- lanes: data ----------------------------------------------------------------------------

const laneCache = new Map();     // key -> lane data (bounded)
let lanes = new Map();           // actor -> {facts, density, total, partial, loading, error}
let lanesController = null;
let statsMissing = false;

function laneKey(actor, from, to) {
  return JSON.stringify([actor, from, to, view.types, view.asOf, view.reportedBy]);
}

async function fetchLane(actor, from, to, signal) {
  const base = { from: isoShort(from), to: isoShort(to), ...timeAxes() };
  if (view.types) base.type = view.types.join(",");
  const first = await api(`/v1/actors/${encodeURIComponent(actor)}/timeline`, { ...base, limit: PAGE }, { signal });
  const facts = first.items;
  if (!first.next_cursor) return { facts, density: null, total: facts.length, partial: false };
  // More than a page in view: a density strip from /v1/stats, else from what a few pages hold.
  // Buckets: at most ~400 a lane; below 20 days a day bucket is too coarse, so bin pages instead.
  const by = to - from <= 400 * DAY ? "day" : to - from <= 400 * 7 * DAY ? "week" : "month";
  if (!statsMissing && to - from >= 20 * DAY) {
    try {
      const stats = await api("/v1/stats", { ...base, actor, by }, { signal });
      return { facts: [], density: stats.buckets.map((b) => ({ start: Date.parse(b.start), end: Date.parse(b.end), count: b.count })),
        total: stats.total.count, partial: false };
    } catch (err) {
      if (err.name === "AbortError") throw err;
      if (err.status === 404 || err.status === 405) statsMissing = true;
    }
  }
  let cursor = first.next_cursor;
  for (let page = 1; page < MAX_PAGES && cursor; page++) {
    const body = await api(`/v1/actors/${encodeURIComponent(actor)}/timeline`, { ...base, limit: PAGE, cursor }, { signal });
    facts.push(...body.items);
    cursor = body.next_cursor;
  }
  return { facts: cursor ? facts : facts, density: binFacts(facts, from, to), total: facts.length, partial: !!cursor };
}

function binFacts(facts, from, to) {
  const n = 200;
  const width = (to - from) / n;
  const bins = Array.from({ length: n }, (_, i) => ({ start: from + i * width, end: from + (i + 1) * width, count: 0 }));
  for (const f of facts) {
    const i = Math.floor((Date.parse(f.occurred_at) - from) / width);
    if (i >= 0 && i < n) bins[i].count++;
  }
  return bins;
}

let lanesTimer = null;
function scheduleLanes(delay = 150) {
  clearTimeout(lanesTimer);
  lanesTimer = setTimeout(loadLanes, delay);
}

async function loadLanes() {
  clearTimeout(lanesTimer);
  lanesController?.abort();
  const controller = new AbortController();
  lanesController = controller;
  const { from, to } = view;
  const wanted = view.actors.slice();
  const next = new Map();
  for (const actor of wanted) {
    const cached = laneCache.get(laneKey(actor, from, to));
    next.set(actor, cached || { ...(lanes.get(actor) || { facts: [], density: null, total: 0 }), loading: true });
  }
  lanes = next;
  const pending = wanted.filter((a) => lanes.get(a).loading);
  render();
  if (!pending.length) { markReady(); return; }
  $("lanes").setAttribute("aria-busy", "true");
  setStatus(`Loading ${pending.length} lane${pending.length > 1 ? "s" : ""}…`);
  let failed = null;
  await Promise.all(pending.map(async (actor) => {
    try {
      const data = await fetchLane(actor, from, to, controller.signal);
      if (controller.signal.aborted) return;
      laneCache.set(laneKey(actor, from, to), data);
      if (laneCache.size > 64) laneCache.delete(laneCache.keys().next().value);
      lanes.set(actor, data);
    } catch (err) {
      if (err.name === "AbortError" || controller.signal.aborted) return;
      failed = err;
      lanes.set(actor, { facts: [], density: null, total: 0, error: err.detail || String(err) });
    }
    scheduleRender();
  }));
  if (controller !== lanesController) return;
  $("lanes").setAttribute("aria-busy", "false");
  render();
  if (failed) reportError(failed, "Lanes");
  else markReady();
}

function markReady() {
  const shown = view.actors.length;
  const ids = new Set();
  let dense = 0;
  for (const lane of lanes.values()) {
    if (lane.density) dense += lane.total;
    else for (const f of lane.facts) ids.add(f.event_id);
  }
  const drawn = ids.size + dense;
  setStatus(shown ? `${shown} lane${shown > 1 ? "s" : ""}, ${drawn}${dense ? "+" : ""} fact${drawn === 1 ? "" : "s"} in view.` : "No actor selected.");
  if (!document.body.dataset.lanes) document.body.dataset.firstLanesMs = `${Math.round(performance.now())}`;
  document.body.dataset.lanes = "drawn";
}

// --- lanes: drawing -------------------------------------------------------------------------

const LABEL_W = 170;
const LANE_H = 46;
const AXIS_H = 30;
let renderQueued = false;

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; render(); });
}

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text != null) node.textContent = text;
  return node;
}

function ticks(from, to, width) {
  const steps = [HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 91 * DAY, 182 * DAY, 365 * DAY,
    2 * 365 * DAY, 5 * 365 * DAY, 10 * 365 * DAY, 25 * 365 * DAY, 50 * 365 * DAY];
  const want = Math.max(2, Math.floor(width / 110));
  const step = steps.find((s) => (to - from) / s <= want) || steps.at(-1);
  const out = [];
  if (step >= 30 * DAY) {
    const months = Math.round(step / (30.4 * DAY));
    const d = new Date(from);
    let y = d.getUTCFullYear();
    let m = Math.floor(d.getUTCMonth() / months) * months;
    for (let i = 0; i < 200; i++) {
      const t = Date.UTC(y, m, 1);
      if (t > to) break;
      if (t >= from) out.push([t, months >= 12 ? `${y}` : `${MONTHS[m]} ${y}`]);
      m += months;
      y += Math.floor(m / 12);
      m %= 12;
    }
  } else {
    for (let t = Math.ceil(from / step) * step; t <= to && out.length < 200; t += step) {
      const iso = new Date(t).toISOString();
      out.push([t, step >= DAY ? iso.slice(0, 10) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`]);
    }
  }
  return out;
}

function render() {
  const svg = $("lanes-svg");
  const width = Math.max(320, $("lanes").clientWidth);
  const { from, to } = view;
  const plotW = width - LABEL_W - 10;
  const x = (t) => LABEL_W + ((t - from) / (to - from)) * plotW;
  const height = AXIS_H + Math.max(1, view.actors.length) * LANE_H + 4;
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const nodes = [];
  nodes.push(el("rect", { x: LABEL_W, y: 0, width: plotW, height, class: "plot-bg" }));
  const clip = el("clipPath", { id: "plot-clip" });
  clip.append(el("rect", { x: LABEL_W, y: 0, width: plotW, height }));
  nodes.push(clip);
  for (const [t, label] of ticks(from, to, plotW)) {
    nodes.push(el("line", { x1: x(t), x2: x(t), y1: AXIS_H - 6, y2: height, class: "tick" }));
    nodes.push(el("text", { x: x(t) + 3, y: AXIS_H - 10, class: "tick-label" }, label));
  }
  if (!view.actors.length) {
    nodes.push(el("text", { x: LABEL_W + 10, y: AXIS_H + 28, class: "lane-note" }, "Select actors to draw their lanes."));
  }
  view.actors.forEach((actor, i) => {
    const top = AXIS_H + i * LANE_H;
    const mid = top + LANE_H / 2;
    const lane = lanes.get(actor) || { facts: [], density: null, total: 0 };
    const g = el("g", { class: "lane", "data-actor": actor });
    g.append(el("rect", { x: 0, y: top, width, height: LANE_H, class: i % 2 ? "lane-bg odd" : "lane-bg" }));
    g.append(el("text", { x: 8, y: mid - 2, class: "lane-label" }, truncate(actorName(actor), 20)));
    const sub = lane.error ? "error" : lane.loading ? "loading…" : lane.partial ? `${lane.total}+ facts` : `${lane.total} fact${lane.total === 1 ? "" : "s"}`;
    g.append(el("text", { x: 8, y: mid + 13, class: lane.error ? "lane-sub error" : "lane-sub" }, sub));
    const marks = el("g", { "clip-path": "url(#plot-clip)" });
    marks.append(el("line", { x1: LABEL_W, x2: LABEL_W + plotW, y1: mid, y2: mid, class: "lane-axis" }));
    if (lane.density && (!lane.facts.length || lane.facts.length > DRAW_CAP)) {
      const max = Math.max(1, ...lane.density.map((b) => b.count));
      for (const b of lane.density) {
        if (!b.count || b.end < from || b.start > to) continue;
        const x0 = x(b.start);
        const strip = el("rect", { x: x0, y: top + 8, width: Math.max(1, x(b.end) - x0), height: LANE_H - 16,
          class: "density", "fill-opacity": (0.15 + 0.85 * b.count / max).toFixed(2) });
        strip.append(el("title", {}, `${fmtTime(new Date(b.start).toISOString())}: ${b.count} fact${b.count === 1 ? "" : "s"}`));
        marks.append(strip);
      }
    } else {
      for (const f of lane.facts.slice(0, DRAW_CAP)) {
        const t0 = Date.parse(f.occurred_at);
        const t1 = f.occurred_until ? Date.parse(f.occurred_until) : null;
        const color = TYPE_COLOR[f.type] || "#333";
        let mark;
        if (t1 && x(t1) - x(t0) > 8) {
          mark = el("rect", { x: x(t0), y: mid - 6, width: x(t1) - x(t0), height: 12, rx: 6, fill: color, class: "mark" });
        } else {
          mark = el("circle", { cx: x(t0), cy: mid, r: 7, fill: color, class: "mark" });
        }
        mark.dataset.eventId = f.event_id;
        mark.append(el("title", {}, `${fmtOccurred(f)} · ${TYPE_LABEL[f.type] || f.type} · ${f.summary}`));
        marks.append(mark);
      }
    }
    g.append(marks);
    nodes.push(g);
  });
  if (view.date) {
    const t = dayStart(view.date) + DAY;
    if (t >= from && t <= to + DAY) {
      nodes.push(el("line", { x1: x(t), x2: x(t), y1: AXIS_H - 4, y2: height, class: "date-line" }));
    }
  }
  svg.replaceChildren(...nodes);
  $("window-label").textContent = `${fmtTime(new Date(from).toISOString())} to ${fmtTime(new Date(to).toISOString())}`;
  renderFactList();
}

const truncate = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

function renderFactList() {
  const seen = new Map();
  let dense = 0;
  for (const actor of view.actors) {
    const lane = lanes.get(actor);
    if (!lane) continue;
    if (lane.density && (!lane.facts.length || lane.facts.length > DRAW_CAP)) { dense += lane.total; continue; }
    for (const f of lane.facts) {
      const t = Date.parse(f.occurred_at);
      if (t < view.from || t > view.to) continue;
      const known = seen.get(f.event_id);
      if (known) known.lanes.push(actor);
      else seen.set(f.event_id, { fact: f, lanes: [actor] });
    }
  }
  const rows = [...seen.values()].sort((a, b) => a.fact.occurred_at.localeCompare(b.fact.occurred_at) || a.fact.position - b.fact.position);
  const list = $("fact-list");
  const active = document.activeElement?.closest?.("#fact-list") ? document.activeElement.dataset.eventId : null;
  let tabSet = false;
  list.replaceChildren(...rows.slice(0, LIST_CAP).map(({ fact, lanes: on }) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.eventId = fact.event_id;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.backgroundColor = TYPE_COLOR[fact.type] || "#333";
    const when = document.createElement("span");
    when.className = "when";
    when.textContent = fmtOccurred(fact);
    const kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = TYPE_LABEL[fact.type] || fact.type;
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = fact.summary;
    const who = document.createElement("span");
    who.className = "who muted";
    who.textContent = on.map(actorName).join(", ");
    button.append(swatch, when, kind, what, who);
    const focusHere = active ? fact.event_id === active : !tabSet;
    button.tabIndex = focusHere && !tabSet ? 0 : -1;
    if (button.tabIndex === 0) tabSet = true;
    li.append(button);
    return li;
  }));
  if (!tabSet && list.firstElementChild) list.firstElementChild.firstElementChild.tabIndex = 0;
  if (active) list.querySelector(`button[data-event-id="${CSS.escape(active)}"]`)?.focus();
  let count = `(${rows.length}${rows.length > LIST_CAP ? `, first ${LIST_CAP} listed; zoom in for the rest` : ""}`;
  if (dense) count += `; ${dense} more in dense lanes, zoom in to list them`;
  $("facts-count").textContent = `${count})`;
}

// --- zoom and pan -----------------------------------------------------------------------------

function setWindow(from, to) {
  let span_ = Math.min(MAX_SPAN, Math.max(MIN_SPAN, to - from));
  const mid = (from + to) / 2;
  view.from = Math.round(mid - span_ / 2);
  view.to = Math.round(mid + span_ / 2);
  writeUrl();
  scheduleRender();
  scheduleLanes();
}

function zoom(factor, anchorFraction = 0.5) {
  const { from, to } = view;
  const anchor = from + (to - from) * anchorFraction;
  const span_ = Math.min(MAX_SPAN, Math.max(MIN_SPAN, (to - from) * factor));
  const newFrom = anchor - span_ * anchorFraction;
  view.from = Math.round(newFrom);
  view.to = Math.round(newFrom + span_);
  writeUrl();
  scheduleRender();
  scheduleLanes();
}

function pan(fraction) {
  const shift = (view.to - view.from) * fraction;
  setWindow(view.from + shift, view.to + shift);
}

function fitAll() {
  setWindow(span.min - DAY, span.max + 2 * DAY);
}

function defaultWindow() {
  // The last month of data: the whole span would squeeze a recent crisis next to an old outlier.
  const end = span.max + 2 * DAY;
  return [Math.max(span.min - DAY, end - 31 * DAY), end];
}

function installAxisControls() {
  const box = $("lanes");
  $("zoom-in").addEventListener("click", () => zoom(1 / 1.5));
  $("zoom-out").addEventListener("click", () => zoom(1.5));
  $("pan-left").addEventListener("click", () => pan(-0.25));
  $("pan-right").addEventListener("click", () => pan(0.25));
  $("fit").addEventListener("click", fitAll);
  box.addEventListener("keydown", (e) => {
    const keys = { "+": () => zoom(1 / 1.5), "=": () => zoom(1 / 1.5), "-": () => zoom(1.5), _: () => zoom(1.5),
      ArrowLeft: () => pan(-0.1), ArrowRight: () => pan(0.1), Home: fitAll };
    if (keys[e.key] && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      keys[e.key]();
    }
  });
  box.addEventListener("wheel", (e) => {
    e.preventDefault();
    const rect = box.getBoundingClientRect();
    const plotW = rect.width - LABEL_W - 10;
    const fraction = Math.min(1, Math.max(0, (e.clientX - rect.left - LABEL_W) / plotW));
    if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      const shift = (e.deltaX / plotW) * (view.to - view.from);
      setWindow(view.from + shift, view.to + shift);
    } else {
      zoom(e.deltaY > 0 ? 1.2 : 1 / 1.2, fraction);
    }
  }, { passive: false });
  let drag = null;
  box.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    drag = { x: e.clientX, from: view.from, to: view.to, moved: false, id: e.pointerId };
  });
  box.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x;
    if (!drag.moved && Math.abs(dx) < 4) return;
    if (!drag.moved) box.setPointerCapture(drag.id);
    drag.moved = true;
    box.classList.add("dragging");
    const plotW = box.clientWidth - LABEL_W - 10;
    const shift = (-dx / plotW) * (drag.to - drag.from);
    view.from = drag.from + shift;
    view.to = drag.to + shift;
    scheduleRender();
  });
  const end = () => {
    if (drag?.moved) {
      box.classList.remove("dragging");
      setWindow(view.from, view.to);
    }
    setTimeout(() => { drag = null; }, 0);
  };
  box.addEventListener("pointerup", end);
  box.addEventListener("pointercancel", end);
  $("lanes-svg").addEventListener("click", (e) => {
    if (drag?.moved) return;
    const id = e.target.closest?.(".mark")?.dataset.eventId;
    if (id) openFact(id, true);
  });
  new ResizeObserver(() => scheduleRender()).observe(box);
}

function installListKeys() {
  const list = $("fact-list");
  list.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-event-id]");
    if (button) openFact(button.dataset.eventId, true);
  });
  list.addEventListener("keydown", (e) => {
    const buttons = [...list.querySelectorAll("button")];
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    const to = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: buttons.length - 1 }[e.key];
    if (to == null) return;
    e.preventDefault();
    const target = buttons[Math.max(0, Math.min(buttons.length - 1, to))];
    buttons[i].tabIndex = -1;
    target.tabIndex = 0;
    target.focus();
  });
}

// --- slider and state -----------------------------------------------------------------------

function sliderBounds() {
  let min = span.min;
  let max = span.max;
  if (view.date) {
    min = Math.min(min, dayStart(view.date));
    max = Math.max(max, dayStart(view.date));
  }
  return { min, max };
}

function renderSlider() {
  const slider = $("date-slider");
  const { min, max } = sliderBounds();
  slider.min = 0;
  slider.max = Math.round((max - min) / DAY);
  slider.value = Math.round((dayStart(view.date) - min) / DAY);
  const label = longDay(view.date);
  slider.setAttribute("aria-valuetext", label);
  $("date-shown").textContent = label;
  $("date-input").value = view.date;
  $("date-input").min = dayOf(min);
  $("date-input").max = dayOf(max);
}

function setDate(day, { fromSlider = false } = {}) {
  if (!day || day === view.date) return;
  view.date = day;
  if (!fromSlider) renderSlider();
  else {
    const label = longDay(day);
    $("date-slider").setAttribute("aria-valuetext", label);
    $("date-shown").textContent = label;
    $("date-input").value = day;
  }
  writeUrl();
  scheduleRender();
  requestState();
}

let stateSeq = 0;
let stateShown = 0;
let stateLast = 0;
let stateTimer = null;

function requestState() {
  // Throttled (at most one request per 100 ms, the last move always sent); stale answers dropped.
  clearTimeout(stateTimer);
  const wait = 100 - (performance.now() - stateLast);
  if (wait > 0) {
    stateTimer = setTimeout(requestState, wait);
    return;
  }
  stateLast = performance.now();
  loadState();
}

async function loadState() {
  const seq = ++stateSeq;
  const panel = $("state-panel");
  const wanted = { date: view.date, actors: view.actors.slice() };
  if (!wanted.actors.length) {
    panel.replaceChildren(note("Select actors to see their state."));
    return;
  }
  panel.setAttribute("aria-busy", "true");
  try {
    const body = await api("/v1/state", { at: wanted.date, actor: wanted.actors.join(","), ...timeAxes() });
    if (seq < stateShown) return;   // an answer to a later request is already shown
    stateShown = seq;
    renderState(body, wanted);
  } catch (err) {
    if (seq < stateShown) return;
    stateShown = seq;
    if (!(err instanceof ApiError && err.status === 401)) {
      panel.replaceChildren(note(`Cannot load the state: ${err.detail || err}`, "error"));
    }
  } finally {
    if (seq === stateSeq) panel.setAttribute("aria-busy", "false");
  }
}

function note(text, cls = "muted") {
  const p = document.createElement("p");
  p.className = cls;
  p.textContent = text;
  return p;
}

function h(tag, text, cls) {
  const node = document.createElement(tag);
  if (text != null) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function renderState(body, wanted) {
  const panel = $("state-panel");
  panel.dataset.at = wanted.date;
  const heading = h("p", `State at the end of ${longDay(wanted.date)}${view.asOf ? `, as recorded by ${fmtTime(view.asOf)}` : ""}${view.reportedBy ? `, as reported by ${view.reportedBy}` : ""}.`, "state-when");
  const cards = wanted.actors.map((actor) => {
    const state = body.actors[actor];
    const card = h("section", null, "actor-state");
    card.dataset.actor = actor;
    card.setAttribute("aria-label", actorName(actor));
    card.append(h("h3", actorName(actor)));
    if (!state) {
      card.append(note("No facts by this date."));
      return card;
    }
    const missions = Object.entries(state.missions || {});
    if (missions.length) {
      card.append(h("h4", "Missions"));
      const ul = h("ul", null, "missions");
      for (const [id, m] of missions) {
        const li = h("li");
        li.dataset.mission = id;
        li.dataset.status = m.status;
        const badge = h("span", m.status, `badge ${m.status}`);
        li.append(h("span", `${id} `, "mission-id"), badge,
          h("span", ` since ${fmtTime(m.since)}${m.personnel != null ? `, ${m.personnel} personnel` : ""}`));
        ul.append(li);
      }
      card.append(ul);
    }
    const deployments = Object.entries(state.deployments || {});
    if (deployments.length) {
      card.append(h("h4", "Personnel by location"));
      const ul = h("ul", null, "deployments");
      for (const [key, d] of deployments) {
        const li = h("li");
        li.dataset.location = key;
        const where = d.location?.name || key;
        li.append(h("span", `${where}: `), h("strong", d.personnel_known === false || d.personnel == null ? "unknown" : `${d.personnel}`));
        ul.append(li);
      }
      card.append(ul);
    }
    const counts = h("dl", null, "counts");
    for (const [label, value] of [["Strikes carried out", state.strikes?.perpetrated ?? 0], ["Strikes suffered", state.strikes?.targeted ?? 0],
      ["Statements", state.statements ?? 0], ["Facts", state.event_count ?? 0]]) {
      counts.append(h("dt", label), h("dd", `${value}`));
    }
    card.append(counts);
    if (state.last_event) {
      const last = h("p", null, "last-event");
      const button = h("button", `${TYPE_LABEL[state.last_event.type] || state.last_event.type}, ${fmtTime(state.last_event.occurred_at)}`, "link");
      button.type = "button";
      button.addEventListener("click", () => openFact(state.last_event.event_id, true));
      last.append("Last fact: ", button);
      card.append(last);
    }
    return card;
  });
  panel.replaceChildren(heading, ...cards);
}

// --- fact detail ------------------------------------------------------------------------------

let factSeq = 0;
let factOpener = null;

async function openFact(id, push = false) {
  const dialog = $("fact-dialog");
  if (!dialog.open) factOpener = document.activeElement;
  view.fact = id;
  writeUrl(push);
  const seq = ++factSeq;
  $("fact-title").textContent = "Fact";
  $("fact-body").replaceChildren(note("Loading…"));
  if (!dialog.open) dialog.showModal();
  try {
    const fact = await api(`/v1/events/${encodeURIComponent(id)}`, timeAxes());
    if (seq !== factSeq) return;
    const previous = await previousVersions(fact);
    if (seq !== factSeq) return;
    renderFact(fact, previous);
  } catch (err) {
    if (seq !== factSeq) return;
    $("fact-body").replaceChildren(note(err.status === 404 ? `No such fact at this time (${err.detail}).` : `Cannot load the fact: ${err.detail || err}`, "error"));
  }
}

async function previousVersions(fact) {
  // The fact as it stood before each correction, to show what a correction changed (old → new).
  const out = new Map();
  const revisions = fact.revisions || [];
  if (revisions.length > 12) return out;
  await Promise.all(revisions.slice(1).map(async (rev, i) => {
    const before = revisions[i];
    try {
      const params = { ...timeAxes(), as_of: before.recorded_at };
      out.set(rev.revision, await api(`/v1/events/${encodeURIComponent(fact.event_id)}`, params));
    } catch { /* the old value is a nicety */ }
  }));
  return out;
}

function closeFact() {
  const dialog = $("fact-dialog");
  if (dialog.open) dialog.close();
}

function fieldRows(pairs) {
  const dl = h("dl", null, "fields");
  for (const [label, value] of pairs) {
    if (value == null || value === "") continue;
    dl.append(h("dt", label));
    const dd = h("dd");
    if (value instanceof Node) dd.append(value);
    else dd.textContent = value;
    dl.append(dd);
  }
  return dl;
}

const ENVELOPE = new Set(["event_id", "type", "occurred_at", "occurred_until", "precision", "reported_at", "recorded_at", "position",
  "revision", "status", "summary", "actors", "location", "sources", "confidence", "refers_to", "revisions", "role", "roles"]);

function show(value) {
  if (value == null) return "—";
  if (typeof value === "object") {
    if (value.name && Object.keys(value).every((k) => ["name", "country", "id", "lat", "lon"].includes(k))) {
      return value.country ? `${value.name} (${value.country})` : value.name;
    }
    return JSON.stringify(value);
  }
  return String(value);
}

function renderFact(fact, previous) {
  $("fact-title").textContent = fact.summary;
  const body = $("fact-body");
  body.dataset.eventId = fact.event_id;
  const parts = [];
  if (fact.status === "retracted") parts.push(note("This fact has been retracted.", "error"));
  const actorsList = h("ul", null, "plain");
  for (const a of fact.actors || []) actorsList.append(h("li", `${actorName(a.id)} — ${a.role}`));
  const typeFields = Object.entries(fact).filter(([k]) => !ENVELOPE.has(k)).map(([k, v]) => [k.replaceAll("_", " "), show(v)]);
  parts.push(fieldRows([
    ["Type", TYPE_LABEL[fact.type] ? `${TYPE_LABEL[fact.type]} (${fact.type})` : fact.type],
    ["Occurred", `${fmtOccurred(fact)} (precision: ${fact.precision})`],
    ["Location", fact.location ? show(fact.location) : null],
    ["Actors", actorsList],
    ["Confidence", fact.confidence],
    ["Reported", fmtTime(fact.reported_at)],
    ["Recorded", fmtTime(fact.recorded_at)],
    ["Revision", `${fact.revision} (${fact.status})`],
    ...typeFields,
    ["Event id", fact.event_id],
  ]));
  parts.push(h("h3", "Sources"));
  if (!fact.sources?.length) parts.push(note("No sources."));
  const sources = h("ul", null, "sources");
  for (const s of fact.sources || []) {
    const li = h("li");
    const link = h("a", s.publisher || s.url);
    link.href = s.url;
    link.rel = "noopener noreferrer";
    link.target = "_blank";
    li.append(link);
    if (s.published_at) li.append(h("span", `, published ${fmtTime(s.published_at)}`));
    if (s.quote) li.append(h("blockquote", s.quote));
    sources.append(li);
  }
  parts.push(sources);
  parts.push(h("h3", "Revision history"));
  const table = h("table", null, "revisions");
  table.id = "revisions";
  const caption = h("caption", `${fact.revisions?.length || 0} revision${fact.revisions?.length === 1 ? "" : "s"}`, "sr-only");
  const head = h("tr");
  for (const c of ["Revision", "Kind", "Recorded", "Reported", "Reason", "Changes"]) {
    const th = h("th", c);
    th.scope = "col";
    head.append(th);
  }
  const thead = h("thead");
  thead.append(head);
  const tbody = h("tbody");
  for (const rev of fact.revisions || []) {
    const tr = h("tr");
    tr.dataset.revision = rev.revision;
    tr.dataset.kind = rev.kind;
    const changes = h("td");
    if (rev.changes && Object.keys(rev.changes).length) {
      const ul = h("ul", null, "plain changes");
      const before = previous.get(rev.revision);
      for (const [k, v] of Object.entries(rev.changes)) {
        const li = h("li");
        li.append(h("strong", `${k.replaceAll("_", " ")}: `));
        if (before && k in before) li.append(h("del", show(before[k])), " → ");
        li.append(h("ins", show(v)));
        ul.append(li);
      }
      changes.append(ul);
    } else {
      changes.textContent = rev.kind === "recorded" ? "first recorded" : "—";
    }
    tr.append(h("td", `${rev.revision}`), h("td", rev.kind, `kind ${rev.kind}`), h("td", fmtTime(rev.recorded_at)),
      h("td", fmtTime(rev.reported_at)), h("td", rev.reason || "—", "reason"), changes);
    tbody.append(tr);
  }
  table.append(caption, thead, tbody);
  const wrap = h("div", null, "table-wrap");
  wrap.append(table);
  parts.push(wrap);
  body.replaceChildren(...parts);
}

// --- filters ----------------------------------------------------------------------------------

function installFilters() {
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  $("actor-search").addEventListener("input", renderActorList);
  $("actor-list").addEventListener("change", (e) => {
    if (e.target.type !== "checkbox") return;
    const id = e.target.value;
    view.actors = e.target.checked ? [...view.actors.filter((a) => a !== id), id] : view.actors.filter((a) => a !== id);
    $("actor-count").textContent = `(${view.actors.length} of ${actors.length} shown)`;
    writeUrl(true);
    loadLanes();
    requestState();
  });
  $("type-list").addEventListener("change", () => {
    const checked = [...$("type-list").querySelectorAll("input:checked")].map((i) => i.value);
    view.types = checked.length === TYPES.length ? null : checked;
    writeUrl(true);
    if (view.types && !view.types.length) {
      lanes = new Map(view.actors.map((a) => [a, { facts: [], density: null, total: 0 }]));
      render();
      setStatus("No fact type selected.");
      return;
    }
    loadLanes();
  });
  $("asof-now").addEventListener("change", (e) => {
    $("asof-input").disabled = e.target.checked;
    if (e.target.checked) {
      view.asOf = null;
    } else {
      if (!$("asof-input").value) $("asof-input").value = new Date().toISOString().slice(0, 19);
      view.asOf = asOfFromInput();
    }
    axesChanged();
  });
  $("asof-input").addEventListener("change", () => {
    const value = asOfFromInput();
    if (value) { view.asOf = value; axesChanged(); }
  });
  $("reported-on").addEventListener("change", (e) => {
    $("reported-input").disabled = !e.target.checked;
    if (e.target.checked) {
      if (!$("reported-input").value) $("reported-input").value = view.date;
      view.reportedBy = $("reported-input").value || null;
    } else {
      view.reportedBy = null;
    }
    axesChanged();
  });
  $("reported-input").addEventListener("change", (e) => {
    if (e.target.value) { view.reportedBy = e.target.value; axesChanged(); }
  });
  $("date-slider").addEventListener("input", (e) => {
    const { min } = sliderBounds();
    setDate(dayOf(min + Number(e.target.value) * DAY), { fromSlider: true });
  });
  $("date-input").addEventListener("change", (e) => {
    if (/^\d{4}-\d{2}-\d{2}$/.test(e.target.value)) setDate(e.target.value);
  });
  $("fact-close").addEventListener("click", closeFact);
  $("fact-dialog").addEventListener("close", () => {
    if (view.fact) {
      view.fact = null;
      writeUrl(true);
    }
    if (factOpener?.isConnected) factOpener.focus();
    factOpener = null;
  });
}

function installTokenForm() {
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("token-input").value.trim();
    if (!value) return;
    token = value;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-input").value = "";
    $("token-box").hidden = true;
    start();
  });
}

function asOfFromInput() {
  const v = $("asof-input").value;
  if (!v) return null;
  return `${v.length === 16 ? `${v}:00` : v.slice(0, 19)}Z`;
}

function axesChanged() {
  writeUrl(true);
  laneCache.clear();
  loadLanes();
  requestState();
  if (view.fact) openFact(view.fact);
}

// --- start --------------------------------------------------------------------------------

function applyDefaults() {
  const known = view.actors.filter((a) => actorById.has(a));
  view.actors = known.length || view.actors.length ? known : actors.slice(0, MAX_LANES_DEFAULT).map((a) => a.id);
  if (!view.date) view.date = dayOf(span.max);
  if (view.from == null) [view.from, view.to] = defaultWindow();
}

async function restore() {
  // The URL is the view: after load and on back/forward.
  applyDefaults();
  renderActorList();
  renderTypeList();
  renderAxesControls();
  renderSlider();
  writeUrl();
  render();
  laneCache.clear();
  loadLanes();
  requestState();
  if (view.fact) openFact(view.fact);
  else closeFact();
}

let started = false;

async function start() {
  setStatus("Loading actors…");
  try {
    await loadActors();
  } catch (err) {
    reportError(err, "Actors");
    return;
  }
  $("token-box").hidden = true;
  if (!started) {
    started = true;
    installFilters();
    installAxisControls();
    installListKeys();
    window.addEventListener("popstate", () => { readUrl(); restore(); });
  }
  if (!actors.length) {
    setStatus("No facts recorded yet.");
  }
  await restore();
}

takeTokenFromHash();
readUrl();
renderTypeList();
installTokenForm();
start();
