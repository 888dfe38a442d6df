// The gateway dashboard: polls /dashboard/data and draws it as plain SVG (no library, no CDN).
// Names come from clients (model names, key names): they are only ever set as text, never as HTML.
"use strict";

// A day's window reads every row of the day: it is polled less often than the last hour.
const POLL_MS = { 15: 2000, 60: 2000, 360: 5000, 1440: 15000, 10080: 30000, 43200: 60000 };
const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#c15f3c", "#4e79a7", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7",
  "#9c755f", "#e15759", "#bab0ac"];
const colours = new Map();
let minutes = 60;
let query = "";
let errorsOnly = false;
let updates = 0;
let timer = null;

function colour(name) {
  if (!colours.has(name)) colours.set(name, PALETTE[colours.size % PALETTE.length]);
  return colours.get(name);
}

function el(tag, attributes = {}, text = null) {
  const node = tag.startsWith("svg:")
    ? document.createElementNS(SVG, tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

const number = (n) => (n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US"));
const short = (n) => (n >= 1e6 ? (n / 1e6).toFixed(1) + "M" : n >= 1e4 ? (n / 1e3).toFixed(0) + "k" : number(n));
const NONE = { model: "(no model)", key: "(no key)" };
// Over more than a day, slices are hours or days: their labels are dates.
const clock = (ts) => (minutes > 1440
  ? new Date(ts * 1000).toLocaleDateString([], { month: "short", day: "numeric" })
  : new Date(ts * 1000).toTimeString().slice(0, 5));
const dollars = (n) => (n === null || n === undefined ? "–"
  : "$" + n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: n < 1 && n > 0 ? 4 : 2 }));

function replaceBody(figure, ...nodes) {
  while (figure.children.length > 1) figure.lastChild.remove();
  figure.append(...nodes);
}

function cards(usage, data) {
  const totals = usage ? usage.totals : {};
  const items = [
    ["cost_usd", "cost (USD)", totals.cost_usd, dollars],
    ["unpriced", "answers without a price", totals.unpriced],
    ["requests", "requests", totals.requests],
    ["total_tokens", "tokens", totals.total_tokens],
    ["input_tokens", "input tokens", totals.input_tokens],
    ["output_tokens", "output tokens", totals.output_tokens],
    ["cache_read_tokens", "cache read", totals.cache_read_tokens],
    ["errors", "errors", totals.errors],
    ["latency_p50", "latency p50 (ms)", usage ? usage.latency_ms.p50 : null],
    ["ttfb_p50", "first token p50 (ms)", usage ? usage.ttfb_ms.p50 : null],
  ];
  const section = document.getElementById("cards");
  section.replaceChildren(...items.map(([key, text, value, shown = number]) => {
    const card = el("div", { class: "card" + ((key === "errors" || key === "unpriced") && value ? " bad" : "") });
    card.append(el("span", { class: "value", "data-metric": key, "data-value": value ?? "" }, shown(value)),
      el("span", { class: "label" }, text));
    return card;
  }));
}

// Stacked columns, one per time slice, a colour per series; the legend carries each total.
function stacked(id, seriesByName, usage, by, shown = number) {
  const aliases = by === "model" ? usage.aliases || {} : {};
  const label = (name) => (name || NONE[by]) + (aliases[name] ? ` (${aliases[name].join(", ")})` : "");
  const figure = document.getElementById(id);
  const names = Object.keys(seriesByName).sort((a, b) => sum(seriesByName[b]) - sum(seriesByName[a]));
  if (!names.length) return replaceBody(figure, el("div", { class: "empty" }, "no requests in this period"));
  const [width, height, left, bottom] = [600, 180, 44, 18];
  const count = usage.buckets;
  const columns = Array.from({ length: count }, (_, i) => names.reduce((t, n) => t + seriesByName[n][i], 0));
  const top = Math.max(1, ...columns);
  const step = (width - left) / count;
  const svg = el("svg:svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "data-chart": id });
  axes(svg, width, height, left, bottom, shown === number ? short(top) : shown(top), usage);
  const base = new Array(count).fill(0);
  for (const name of names) {
    const group = el("svg:g", { "data-series": name, fill: colour(name) });
    seriesByName[name].forEach((value, i) => {
      if (!value) return;
      const h = (value / top) * (height - bottom - 8);
      const y = height - bottom - base[i] - h;
      base[i] += h;
      const rect = el("svg:rect", { x: (left + i * step + 0.5).toFixed(1), y: y.toFixed(1),
        width: Math.max(1, step - 1).toFixed(1), height: h.toFixed(1),
        "data-bucket": i, "data-value": value });
      rect.append(el("svg:title", {}, `${label(name)} ${clock(usage.since + i * usage.bucket_seconds)}: ${shown(value)}`));
      group.append(rect);
    });
    svg.append(group);
  }
  replaceBody(figure, svg, legend(names.map((n) => [n, label(n), sum(seriesByName[n]), colour(n)]), shown));
}

// p50 and p90 as lines over time; the legend gives p50, p90 and p99 of the whole period.
function percentiles(id, stats, usage) {
  const figure = document.getElementById(id);
  if (!stats.count) return replaceBody(figure, el("div", { class: "empty" }, "no answers in this period"));
  const [width, height, left, bottom] = [600, 180, 44, 18];
  const top = Math.max(1, ...stats.series.p90.filter((v) => v !== null));
  const step = (width - left) / usage.buckets;
  const svg = el("svg:svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "data-chart": id });
  axes(svg, width, height, left, bottom, short(top), usage);
  for (const [name, paint] of [["p90", "#b07aa1"], ["p50", "#c15f3c"]]) {
    const points = stats.series[name].map((v, i) => (v === null ? null :
      [left + (i + 0.5) * step, height - bottom - (v / top) * (height - bottom - 8)]));
    const group = el("svg:g", { "data-series": name });
    for (const [x, y] of points.filter(Boolean)) {
      group.append(el("svg:circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 2, fill: paint }));
    }
    let run = [];
    for (const point of [...points, null]) {
      if (point) { run.push(point); continue; }
      if (run.length > 1) {
        group.append(el("svg:polyline", { points: run.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "),
          fill: "none", stroke: paint, "stroke-width": 1.5 }));
      }
      run = [];
    }
    svg.append(group);
  }
  const items = ["p50", "p90", "p99"].map((p) => [p, `${p} ${number(stats[p])} ms`, null, p === "p50" ? "#c15f3c" : p === "p99" ? "#667085" : "#b07aa1"]);
  const list = legend(items);
  list.querySelectorAll("li").forEach((li, i) => li.setAttribute("data-metric", `${id}-${items[i][0]}`));
  list.querySelectorAll("li").forEach((li, i) => li.setAttribute("data-value", stats[items[i][0]] ?? ""));
  replaceBody(figure, svg, list, el("div", { class: "empty" }, `${number(stats.count)} answers`));
}

function axes(svg, width, height, left, bottom, topLabel, usage) {
  svg.append(el("svg:line", { class: "axis", x1: left, y1: height - bottom, x2: width, y2: height - bottom }),
    el("svg:line", { class: "axis", x1: left, y1: 8, x2: width, y2: 8 }),
    el("svg:text", { x: left - 4, y: 12, "text-anchor": "end" }, topLabel),
    el("svg:text", { x: left - 4, y: height - bottom, "text-anchor": "end" }, "0"));
  for (const fraction of [0, 0.5, 1]) {
    const x = left + fraction * (width - left);
    const anchor = fraction === 0 ? "start" : fraction === 1 ? "end" : "middle";
    svg.append(el("svg:text", { x, y: height - 4, "text-anchor": anchor },
      clock(usage.since + fraction * usage.bucket_seconds * usage.buckets)));
  }
}

function legend(items, shown = number) {
  const list = el("ul", { class: "legend" });
  for (const [key, text, total, paint] of items) {
    const item = el("li", total === null ? {} : { "data-series": key, "data-total": total });
    item.append(el("span", { class: "swatch", "data-colour": paint }), el("span", {}, text));
    item.firstChild.style.background = paint;
    if (total !== null) item.append(el("span", { class: "total" }, shown(total)));
    list.append(item);
  }
  return list;
}

function errors(usage) {
  const figure = document.getElementById("errors");
  const kinds = Object.entries(usage.errors);
  if (!kinds.length) return replaceBody(figure, el("div", { class: "empty" }, "no errors in this period"));
  const table = el("table");
  table.append(row("th", ["kind", "requests"]));
  for (const [kind, count] of kinds) {
    const tr = row("td", [kind, number(count)]);
    tr.setAttribute("data-error", kind);
    tr.setAttribute("data-value", count);
    tr.lastChild.className = "number";
    table.append(tr);
  }
  replaceBody(figure, table);
}

function sinks(states, targets) {
  const table = el("table");
  table.append(row("th", ["sink", "kind", "ready", "login", "running", "waiting", "warm spares",
    "5 hours", "7 days", "subscription", "live conversations"]));
  for (const [name, s] of Object.entries(states)) {
    const load = s.processes || s.requests || null;
    const login = s.login ? (s.login.logged_in ? `yes (${s.login.method || "?"})` : "no") : "–";
    const warm = s.warm ? `${s.warm.ready} of ${s.warm.size}` : "–";
    const sub = s.subscription;
    const tr = row("td", [name, s.kind, s.ready ? "yes" : "no", login,
      load ? `${load.running} of ${load.max_running}` : "–",
      load ? `${load.waiting} of ${load.max_waiting}` : "–", warm,
      windowUse(sub, "five_hour"), windowUse(sub, "seven_day"), subscriptionState(sub),
      liveSummary(s.live)]);
    tr.setAttribute("data-sink", name);
    if (s.live) tr.lastChild.title = liveDetail(s.live);
    tr.children[2].className = s.ready ? "ok" : "no";
    if (s.problem) tr.children[2].title = s.problem;
    if (sub) tr.children[9].className = sub.limited_until ? "no" : sub.status === "allowed" ? "ok" : "";
    table.append(tr);
  }
  const nodes = [table];
  const seen = Object.entries(targets || {});
  if (seen.length) {
    const health = el("table");
    health.append(row("th", ["target", "state", "in flight", "served", "failed", "last failure"]));
    for (const [key, t] of seen) {
      const state = t.state === "cooling" ? `cooling until ${when(t.until)}` : t.state;
      const tr = row("td", [key, state, t.in_flight, t.served, t.failed, t.last_error || "–"]);
      tr.setAttribute("data-target", key);
      tr.children[1].className = t.state === "ok" ? "ok" : "no";
      health.append(tr);
    }
    nodes.push(health);
  }
  replaceBody(document.getElementById("sinks"), ...nodes);
}

function windowUse(sub, name) {
  const used = sub && sub.windows && sub.windows[name];
  if (!used || used.utilization == null) return "–";
  const reset = used.resets_at ? `, resets ${when(used.resets_at)}` : "";
  return `${Math.round(used.utilization * 100)}%${reset}`;
}

function subscriptionState(sub) {
  if (!sub) return "–";
  if (sub.limited_until) return `used up until ${when(sub.limited_until)}`;
  return sub.using_overage ? `${sub.status}, overage` : sub.status;
}

// A day and time, for resets and cooldowns that may be days away.
const when = (ts) => new Date(ts * 1000).toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" });

function liveSummary(live) {
  if (!live) return "–";
  const misses = Object.values(live.misses).reduce((a, b) => a + b, 0);
  return `${live.kept} of ${live.max}, ${live.memory_mib} MiB; ${live.hits} hits, ${misses} misses`;
}

function liveDetail(live) {
  const list = (counts) => Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
  return `misses: ${list(live.misses)}\nended: ${list(live.ended)}\n` +
    `holding tool calls: ${live.holding_tool_calls}; serving: ${live.serving}`;
}

function row(cell, values) {
  const tr = el("tr");
  for (const value of values) tr.append(el(cell, {}, String(value)));
  return tr;
}

function ledger(state) {
  const footer = document.getElementById("ledger");
  if (!state) return (footer.textContent = "The usage ledger is off (usage.enabled: false).");
  if (state.location === undefined) return (footer.textContent = state.error ? `Ledger: ${state.error}` : "");
  footer.textContent = `Ledger: ${state.backend} ${state.location} · ${number(state.written)} rows written` +
    ` by this gateway, ${number(state.pending)} pending` + (state.error ? ` · error: ${state.error}` : "");
}

const sum = (values) => values.reduce((a, b) => a + b, 0);

// Each budget the reader may see: spent of its limit, its state and when it resets.
function budgets(rows, zone) {
  const figure = document.getElementById("budgets");
  if (!rows.length) return replaceBody(figure, el("div", { class: "empty" }, "no budgets (docs/teams.md#budgets)"));
  const table = el("table");
  table.append(row("th", ["budget", "period", "spent", "limit", "used", "resets"]));
  for (const b of rows) {
    const shares = [];
    if (b.usd) shares.push((b.spent_usd ?? 0) / b.usd);
    if (b.tokens) shares.push((b.spent_tokens ?? 0) / b.tokens);
    const share = Math.max(...shares);
    const spent = [b.usd ? dollars(b.spent_usd) : null, b.tokens ? `${number(b.spent_tokens)} tokens` : null].filter(Boolean).join(", ");
    const limit = [b.usd ? dollars(b.usd) : null, b.tokens ? `${number(b.tokens)} tokens` : null].filter(Boolean).join(", ");
    const tr = row("td", [`${b.scope} ${b.owner}`, `${b.period} (${b.label})`, b.state === null ? "unknown" : spent, limit, "", when(b.resets)]);
    const paint = b.state === "spent" ? "no" : b.state === "warning" ? "warn" : "";
    const meter = el("span", { class: `meter ${paint}` });
    meter.append(el("span"));
    meter.firstChild.style.width = `${Math.min(100, Math.round(share * 100))}%`;
    tr.children[4].append(meter, el("span", { class: paint }, `${Math.round(share * 100)}%${b.state === "spent" ? " spent" : b.state === "warning" ? " (warning)" : ""}`));
    tr.setAttribute("data-budget", `${b.scope}:${b.owner}:${b.period}`);
    tr.setAttribute("data-state", b.state ?? "");
    tr.setAttribute("data-spent-usd", b.spent_usd ?? "");
    tr.setAttribute("data-spent-tokens", b.spent_tokens ?? "");
    table.append(tr);
  }
  replaceBody(figure, table, el("div", { class: "empty" }, `periods in ${zone || "the gateway's local time"}`));
}

// The last requests of the period: their envelope only (never content), newest first.
function recentRequests(rows) {
  const box = document.getElementById("recent");
  if (!rows || !rows.length) return box.replaceChildren(el("div", { class: "empty" }, "no requests match"));
  const table = el("table");
  table.append(row("th", ["time", "key", "route", "model", "target", "status", "tokens in / out", "cost", "latency (ms)"]));
  for (const r of rows) {
    const served = r.served && r.served !== r.model ? `${r.model} → ${r.served}` : r.model || "–";
    const input = (r.input_tokens ?? 0) + (r.cache_read_tokens ?? 0) + (r.cache_creation_tokens ?? 0);
    const tokens = r.input_tokens === null && r.output_tokens === null ? "–" : `${number(input)} / ${number(r.output_tokens ?? 0)}`;
    const cost = r.cost_usd !== null ? dollars(r.cost_usd) : (r.input_tokens || r.output_tokens ? "no price" : "–");
    const status = r.error ? `${r.status} ${r.error}` : String(r.status ?? "–");
    const tr = row("td", [new Date(r.ts * 1000).toLocaleString(), r.key || "–", r.route || "–", served,
      r.target || "–", status, tokens, cost, number(r.latency_ms)]);
    tr.setAttribute("data-request", "");
    tr.setAttribute("data-key", r.key ?? "");
    tr.setAttribute("data-cost", r.cost_usd ?? "");
    if (r.error || r.status >= 400) tr.children[5].className = "no";
    if (r.cost_usd === null && (r.input_tokens || r.output_tokens)) tr.children[7].className = "warn";
    for (const i of [6, 7, 8]) tr.children[i].classList.add("number");
    table.append(tr);
  }
  box.replaceChildren(table);
}

function render(data) {
  const usage = data.usage;
  cards(usage, data);
  const viewer = document.getElementById("viewer");
  viewer.textContent = data.viewer.admin ? "all keys" : `your usage (key ${data.viewer.key})`;
  viewer.setAttribute("data-admin", data.viewer.admin);
  budgets(data.budgets || [], data.time_zone);
  recentRequests(data.recent);
  if (usage) {
    stacked("cost-model", usage.cost.model, usage, "model", dollars);
    stacked("cost-key", usage.cost.key, usage, "key", dollars);
    stacked("requests-model", usage.requests.model, usage, "model");
    stacked("requests-key", usage.requests.key, usage, "key");
    stacked("tokens-model", usage.tokens.model, usage, "model");
    stacked("tokens-key", usage.tokens.key, usage, "key");
    percentiles("latency", usage.latency_ms, usage);
    percentiles("ttfb", usage.ttfb_ms, usage);
    errors(usage);
  }
  document.getElementById("sinks").classList.toggle("hidden", !data.sinks);
  if (data.sinks) sinks(data.sinks, data.targets);
  ledger(data.ledger);
  updates += 1;
  const updated = document.getElementById("updated");
  updated.textContent = `updated ${new Date(data.now * 1000).toLocaleTimeString()}`;
  updated.setAttribute("data-updates", updates);
  updated.setAttribute("data-now", data.now);
  updated.setAttribute("data-minutes", data.minutes);
}

async function refresh() {
  clearTimeout(timer);
  try {
    const params = new URLSearchParams({ minutes, q: query, errors: errorsOnly ? "1" : "0" });
    const response = await fetch(`/dashboard/data?${params}`, { cache: "no-store" });
    if (response.status === 401) return location.reload(); // logged out: the login form
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
  } catch (error) {
    document.getElementById("updated").textContent = `not updated: ${error.message}`;
  } finally {
    clearTimeout(timer);
    timer = setTimeout(refresh, POLL_MS[minutes]);
  }
}

document.getElementById("windows").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-minutes]");
  if (!button) return;
  minutes = Number(button.dataset.minutes);
  document.querySelectorAll("#windows button").forEach((b) => b.classList.toggle("active", b === button));
  refresh();
});
let typing = null;
document.getElementById("filter").addEventListener("input", (event) => {
  clearTimeout(typing);
  typing = setTimeout(() => { query = event.target.value.trim(); refresh(); }, 250);
});
document.getElementById("errors-only").addEventListener("change", (event) => {
  errorsOnly = event.target.checked;
  refresh();
});
refresh();
