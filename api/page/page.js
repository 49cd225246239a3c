// The Collection page: collectors and their sources, a source view, restart, and the source form.
// Plain ES module, no build step. Every value shown comes from the management API under /api/v1;
// the browser sends the HTTP Basic credentials it was asked for when it loaded the page.
// The DOM is built with textContent only (no innerHTML), so no API value is ever read as markup.

const API = "/api/v1";
const REFRESH_MS = 5000;
const MASK = "********";
const COLLECTIONS = [
  ["siem", "SIEM logs"],
  ["dlp", "DLP logs"],
  ["auditEvent", "Audit events"],
  ["holdMessageList", "Hold message list"],
  ["ttpUrl", "TTP URL protect logs"],
  ["ttpAttachment", "TTP attachment protect logs"],
  ["ttpImpersonation", "TTP impersonation protect logs"],
  ["archiveSearch", "Archive search logs"],
  ["holdReleaseLog", "Message release logs"],
  ["cloudIntegrated", "Cloud Integrated logs"],
  ["threatIntelCustomer", "Threat intel: customer malware feed"],
  ["threatIntelGrid", "Threat intel: grid malware feed"],
];
const FILTER_TYPES = ["Include", "Exclude", "Mask", "Hash"];
const STARTING = new Set(["Pending", "Started", "Initialized", "Stopping"]);

import { loadDestinations, renderDestinationForm, renderDestinations } from "./destinations.js";

const main = document.getElementById("main");
let timer = null;
let lastRendered = "";
let uid = 0;

// ---------------------------------------------------------------- the API

class ApiFailure extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function call(method, path, body, headers = {}) {
  const options = { method, headers: { Accept: "application/json", ...headers }, cache: "no-store" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API + path, options);
  } catch (error) {
    throw new ApiFailure(0, { message: "the API did not answer: " + error.message });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text.slice(0, 200) };
    }
  }
  if (!response.ok) throw new ApiFailure(response.status, data);
  return { data, etag: response.headers.get("ETag") };
}

const get = async (path) => (await call("GET", path)).data;
const enc = encodeURIComponent;
const sourcePath = (cid, sid) => `/collectors/${enc(cid)}/sources/${enc(sid)}`;

async function openEvents() {
  const events = [];
  let token = null;
  for (let page = 0; page < 10; page += 1) {
    const query = token ? `?limit=1000&token=${enc(token)}` : "?limit=1000";
    const answer = await get("/healthEvents" + query);
    events.push(...answer.data);
    token = answer.next;
    if (!token) break;
  }
  return events;
}

async function schemaNames() {
  const answer = await get("/fields");
  return new Set(answer.data.map((field) => field.fieldName.toLowerCase()));
}

// ---------------------------------------------------------------- DOM helpers

function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const SVG = "http://www.w3.org/2000/svg";
const ICONS = {
  healthy: ["#1a7f37", "M5 8.2l2 2 4-4.4", "circle"],
  warning: ["#c26000", "M8 5.6v3.2M8 10.9v.2", "triangle"],
  error: ["#c62828", "M5.8 5.8l4.4 4.4M10.2 5.8l-4.4 4.4", "circle"],
  progress: ["#5a6b7d", "M8 4.8V8l2.2 1.4", "circle"],
};

function icon(kind) {
  const [color, path, shape] = ICONS[kind];
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("class", `icon icon-${kind}`);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const outline = document.createElementNS(SVG, shape === "circle" ? "circle" : "path");
  if (shape === "circle") {
    outline.setAttribute("cx", "8");
    outline.setAttribute("cy", "8");
    outline.setAttribute("r", "7");
  } else {
    outline.setAttribute("d", "M8 1.3L15 14H1z");
    outline.setAttribute("stroke-linejoin", "round");
  }
  outline.setAttribute("fill", color);
  outline.setAttribute("stroke", color);
  const mark = document.createElementNS(SVG, "path");
  mark.setAttribute("d", path);
  mark.setAttribute("fill", "none");
  mark.setAttribute("stroke", "#fff");
  mark.setAttribute("stroke-width", "1.8");
  mark.setAttribute("stroke-linecap", "round");
  svg.append(outline, mark);
  return svg;
}

function toast(message, kind = "ok") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast toast-${kind}` }, icon(kind === "ok" ? "healthy" : "error"), h("span", {}, message));
  const close = h("button", { type: "button", class: "link", "aria-label": "Dismiss notification", onclick: () => item.remove() }, "×");
  item.append(close);
  box.append(item);
  setTimeout(() => item.remove(), kind === "ok" ? 8000 : 15000);
}

function confirmDialog(title, text, action = "Confirm") {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = action;
  return new Promise((resolve) => {
    const ok = document.getElementById("confirm-ok");
    const cancel = document.getElementById("confirm-cancel");
    const done = (answer) => {
      ok.removeEventListener("click", yes);
      cancel.removeEventListener("click", no);
      dialog.removeEventListener("cancel", no);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const yes = () => done(true);
    const no = () => done(false);
    ok.addEventListener("click", yes);
    cancel.addEventListener("click", no);
    dialog.addEventListener("cancel", no);
    dialog.showModal();
    cancel.focus();
  });
}

// ---------------------------------------------------------------- formatting

function when(iso) {
  if (!iso) return "–";
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return iso;
  return moment.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC");
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

const count = (value) => Number(value || 0).toLocaleString("en-US");
const collectionLabel = (name) => (COLLECTIONS.find(([value]) => value === name) || [name, name])[1];

// ---------------------------------------------------------------- health and status

/** The source's health (healthy | warning | error) and the detected issue, from its open events and state. */
function healthOf(source, events) {
  const mine = events
    .filter((event) => event.resourceIdentity && event.resourceIdentity.id === source.id)
    .sort((a, b) => String(b.eventTime).localeCompare(String(a.eventTime)));
  const state = source.state || {};
  const worst = mine.find((event) => event.severityLevel === "Error") || mine.find((event) => event.severityLevel === "Warning");
  if (worst) {
    const level = worst.severityLevel === "Error" ? "error" : "warning";
    return { level, issue: `${worst.eventName}: ${worst.details ? worst.details.description : ""}`, since: worst.eventTime };
  }
  if (state.state === "Error") {
    const error = state.error || {};
    const code = error.code ? ` ${error.code}` : "";
    const where = error.collection ? ` in ${collectionLabel(error.collection)}` : "";
    return { level: "error", issue: `${error.type || "Error"}${code}${where}: ${error.message || "unknown error"}`, since: state.since };
  }
  return { level: "healthy", issue: null, since: state.since };
}

const LEVEL_WORD = { healthy: "Healthy", warning: "Warning", error: "Error" };

function healthBadge(health) {
  return h("span", { class: `health health-${health.level}` }, icon(health.level), LEVEL_WORD[health.level]);
}

function statusCell(source, health) {
  const state = (source.state && source.state.state) || "Unknown";
  const kind = health.level !== "healthy" ? health.level : STARTING.has(state) ? "progress" : "healthy";
  const tipId = `tip-${++uid}`;
  const text = health.issue
    ? `Detected issue: ${health.issue}`
    : `No issue detected. ${state} since ${when(source.state && source.state.since)}.`;
  const tip = h("span", { id: tipId, role: "tooltip", class: "tooltip" }, text);
  const button = h(
    "button",
    { type: "button", class: "status-icon", "aria-label": `Status ${state}`, "aria-describedby": tipId, "data-focus": `status-${source.id}` },
    icon(kind),
  );
  const wrap = h("span", { class: "status" }, h("span", { class: "tip-anchor" }, button, tip), h("span", { class: "state" }, state));
  const dismiss = (event) => {
    if (event.key === "Escape") wrap.classList.add("dismissed");
  };
  button.addEventListener("keydown", dismiss);
  wrap.addEventListener("mouseleave", () => wrap.classList.remove("dismissed"));
  button.addEventListener("blur", () => wrap.classList.remove("dismissed"));
  return wrap;
}

// ---------------------------------------------------------------- the collectors list

async function loadList() {
  const [collectors, events] = await Promise.all([get("/collectors"), openEvents()]);
  const sources = await Promise.all(
    collectors.collectors.map((collector) => get(`/collectors/${enc(collector.id)}/sources`).then((answer) => answer.sources)),
  );
  const sparks = await loadSparklines(collectors.collectors);
  return { collectors: collectors.collectors, sources, events, sparks };
}

function renderList({ collectors, sources, events, sparks }) {
  const groups = collectors.map((collector, index) => {
    const mine = sources[index];
    const rows = [
      h(
        "tr",
        { class: "collector-row" },
        h(
          "th",
          { colspan: 6, scope: "rowgroup" },
          h("span", { class: "collector-name" }, collector.name),
          h("span", { class: "muted" }, ` · Hosted collector · ${mine.length} source${mine.length === 1 ? "" : "s"}`),
        ),
        h("td", { class: "actions" }, h("a", { class: "button", href: `#/collectors/${enc(collector.id)}/sources/new`, "aria-label": `Add Source to ${collector.name}` }, "Add Source")),
      ),
    ];
    if (mine.length === 0) rows.push(h("tr", {}, h("td", { colspan: 7, class: "muted empty" }, "No sources yet.")));
    for (const source of mine) {
      const health = healthOf(source, events);
      const view = `#/collectors/${enc(collector.id)}/sources/${enc(source.id)}`;
      rows.push(
        h(
          "tr",
          { class: "source-row", "data-source": source.config.name },
          h("td", {}, h("a", { href: view, "data-focus": `name-${source.id}` }, source.config.name)),
          h("td", {}, source.config.category || h("span", { class: "muted" }, "–")),
          h("td", {}, source.config.dataCollection.map(collectionLabel).join(", ")),
          h("td", {}, healthBadge(health)),
          h("td", {}, statusCell(source, health)),
          h("td", { class: "spark" }, sparkline(sparks[source.id])),
          h("td", { class: "actions" }, h("a", { class: "button", href: view, "aria-label": `Details of ${source.config.name}` }, "Details")),
        ),
      );
    }
    return h("tbody", {}, rows);
  });
  const headings = ["Name", "Category", "Collections", "Health", "Status", "Last 24 h"].map((name) => h("th", { scope: "col" }, name));
  const sourcesTable = h(
    "table",
    { class: "sources" },
    h("caption", { class: "visually-hidden" }, "Collectors and their sources"),
    h("thead", {}, h("tr", {}, headings, h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
    groups,
  );
  const all = sources.flat();
  const unhealthy = all.filter((source) => healthOf(source, events).level !== "healthy").length;
  const plural = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;
  return [
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Collection"),
      h("p", { class: "muted" }, `${plural(collectors.length, "collector")}, ${plural(all.length, "source")}`, unhealthy ? `, ${unhealthy} with an issue` : ""),
    ),
    collectors.length ? sourcesTable : h("p", { class: "empty" }, "No collectors yet. Create one to add Mimecast sources."),
    newCollectorForm(),
  ];
}

function newCollectorForm() {
  const input = h("input", { id: "new-collector", name: "name", autocomplete: "off", "aria-describedby": "new-collector-error" });
  const error = h("p", { id: "new-collector-error", class: "field-error", hidden: true });
  const form = h(
    "form",
    { class: "inline-form", novalidate: true },
    h("label", { for: "new-collector" }, "New hosted collector"),
    input,
    h("button", { type: "submit" }, "Create collector"),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await call("POST", "/collectors", { collector: { collectorType: "Hosted", name: input.value } });
      toast(`Collector ${input.value} created.`);
      lastRendered = "";
      await show();
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
    }
  });
  return form;
}

// ---------------------------------------------------------------- charts: progress over the last 24 hours
// Inline SVG, drawn from the API's per-minute history (GET .../progress/history and
// .../progress/sparklines). Each chart is an image with a text summary (role="img", aria-label).

function svgNode(tag, attrs = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  for (const child of children.flat()) if (child) element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return element;
}

/** An SVG path through `values` (null breaks the line) in a box of width x height. */
function linePath(values, width, height, top) {
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  let path = "";
  let pen = false;
  values.forEach((value, index) => {
    if (value === null || value === undefined) {
      pen = false;
      return;
    }
    const x = (index * step).toFixed(1);
    const y = (height - (Math.min(value, top) / top) * height).toFixed(1);
    path += `${pen ? "L" : "M"}${x} ${y}`;
    const next = values[index + 1];
    if (!pen && (next === null || next === undefined)) path += "h0.01"; // a lone point: a dot (round caps)
    pen = true;
  });
  return path;
}

const clock = (date) => date.toISOString().slice(11, 16);

/** A line chart of one series: its largest value on top, its time span underneath. */
function lineChart({ label, values, start, stepSeconds, format, kind }) {
  const width = 440;
  const height = 90;
  const left = 64;
  const known = values.filter((value) => value !== null && value !== undefined);
  const top = Math.max(1, ...known);
  const first = new Date(start);
  const last = new Date(first.getTime() + (values.length - 1) * stepSeconds * 1000);
  const latest = known.length ? known[known.length - 1] : null;
  const summary = known.some((value) => value > 0) || (known.length && kind !== "records")
    ? `${label}, the last 24 hours to ${clock(last)} UTC: highest ${format(Math.max(...known))}, latest ${format(latest)}`
    : `${label}: nothing recorded in the last 24 hours`;
  return svgNode(
    "svg",
    { class: `chart chart-${kind}`, viewBox: `0 0 ${width + left + 4} ${height + 22}`, role: "img", "aria-label": summary, "data-points": values.length, "data-top": top },
    svgNode("title", {}, summary),
    svgNode("text", { x: left - 6, y: 10, class: "chart-axis", "text-anchor": "end" }, format(top)),
    svgNode("text", { x: left - 6, y: height, class: "chart-axis", "text-anchor": "end" }, format(0)),
    svgNode("text", { x: left, y: height + 18, class: "chart-axis" }, `${clock(first)} UTC`),
    svgNode("text", { x: left + width, y: height + 18, class: "chart-axis", "text-anchor": "end" }, "now"),
    svgNode(
      "g",
      { transform: `translate(${left} 0)` },
      svgNode("line", { x1: 0, y1: height, x2: width, y2: height, class: "chart-base" }),
      svgNode("line", { x1: 0, y1: 0.5, x2: width, y2: 0.5, class: "chart-grid" }),
      svgNode("path", { d: linePath(values, width, height, top), class: "chart-line" }),
    ),
  );
}

/** Records forwarded by a source, all its collections together, as a small line. */
function sparkline(spark) {
  const values = spark ? spark.forwarded : [];
  const total = values.reduce((sum, value) => sum + value, 0);
  const summary = `Records forwarded in the last 24 hours: ${count(total)}`;
  if (!values.length) return h("span", { class: "muted" }, "–");
  return svgNode(
    "svg",
    { class: "sparkline", viewBox: "0 0 120 24", role: "img", "aria-label": summary, "data-total": total, "data-points": values.length },
    svgNode("title", {}, summary),
    svgNode("path", { d: linePath(values, 120, 22, Math.max(1, ...values)), transform: "translate(0 1)", class: "chart-line" }),
  );
}

async function loadCharts(cid, sid) {
  return (await get(sourcePath(cid, sid) + "/progress/history")).collections;
}

async function loadSparklines(collectors) {
  const answers = await Promise.all(collectors.map((collector) => get(`/collectors/${enc(collector.id)}/progress/sparklines`)));
  return Object.fromEntries(answers.flatMap((answer) => answer.sources.map((spark) => [spark.id, spark])));
}

function chartsSection(collections) {
  const perMinute = (value) => count(value);
  const figures = collections.map((series) => {
    const total = series.forwarded.reduce((sum, value) => sum + value, 0);
    return h(
      "figure",
      { class: "charts", "data-collection": series.collection },
      h("figcaption", {}, h("strong", {}, collectionLabel(series.collection)), h("span", { class: "muted" }, ` · ${count(total)} records in 24 h`)),
      h("div", { class: "chart-pair" },
        h("div", {}, h("h3", {}, "Records forwarded per minute"), lineChart({ label: "Records forwarded per minute", values: series.forwarded, start: series.start, stepSeconds: series.stepSeconds, format: perMinute, kind: "records" })),
        h("div", {}, h("h3", {}, "Lag"), lineChart({ label: "Lag", values: series.lagSeconds, start: series.start, stepSeconds: series.stepSeconds, format: duration, kind: "lag" })),
      ),
    );
  });
  return h("section", { "aria-labelledby": "h-charts" }, h("h2", { id: "h-charts" }, "Last 24 hours"), figures.length ? figures : h("p", { class: "muted empty" }, "No collections."));
}

// ---------------------------------------------------------------- the source view

async function loadSource(cid, sid) {
  const resources = { data: [{ id: sid, type: "Source" }] };
  const [collector, source, history, progress, events, open] = await Promise.all([
    get(`/collectors/${enc(cid)}`),
    get(sourcePath(cid, sid)),
    get(sourcePath(cid, sid) + "/history"),
    get(sourcePath(cid, sid) + "/progress"),
    call("POST", "/healthEvents/resources", resources).then((answer) => answer.data.data),
    openEvents(),
  ]);
  const charts = await loadCharts(cid, sid);
  return { cid, collector: collector.collector, source: source.source, history: history.history, progress, events, open, charts };
}

function table(caption, headings, rows, empty) {
  if (!rows.length) return h("p", { class: "muted empty" }, empty);
  return h(
    "table",
    { class: "plain" },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, headings.map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, rows),
  );
}

const SIEM_MODES = [
  ["auto", "Auto: batch files for what is older than a day, then streaming"],
  ["streaming", "Streaming: about a minute fresh, 24 hours' reach, a call quota"],
  ["batch", "Batch files: 7 days' reach, 10-20 minutes after their period"],
];

function siemModeLabel(mode) {
  const found = SIEM_MODES.find(([value]) => value === (mode || "auto"));
  return found ? found[1].split(":")[0] : mode;
}

// The SIEM stream's reading under its checkpoint time: batch files or streaming, and why.
function siemReading(siem) {
  if (!siem || !siem.reading) return null;
  const text = `reading ${siem.reading === "streaming" ? "the streaming endpoint" : "batch files"}${siem.note ? ` (${siem.note})` : ""}`;
  return h("div", { class: "muted siem-reading" }, text);
}

function progressTable(progress) {
  const rows = progress.progress.map((item) => {
    const error = item.error;
    const name = h(
      "th",
      { scope: "row" },
      collectionLabel(item.collection),
      error
        ? h("div", { class: "error-text" }, `${error.stopped ? "stopped" : "retrying"}: ${error.type}${error.code ? " " + error.code : ""}: ${error.message}`)
        : null,
    );
    if (!item.collected) {
      return h("tr", {}, name, h("td", { colspan: 4, class: "muted" }, "not collected yet"), h("td", { class: "num" }, count(item.recordsForwarded)));
    }
    const point = item.checkpointTime
      ? when(item.checkpointTime)
      : item.caughtUp
        ? "caught up (listing token)"
        : "catching up (listing token)";
    const lag = item.lagBasis === "commit" ? `${duration(item.lagSeconds)} since last commit` : duration(item.lagSeconds);
    return h(
      "tr",
      {},
      name,
      h("td", {}, point, siemReading(item.siem)),
      h("td", {}, lag),
      h("td", {}, when(item.committedAt)),
      h("td", { class: "num" }, count(item.pagesFetched)),
      h("td", { class: "num" }, count(item.recordsForwarded)),
    );
  });
  return table("Progress per collection", ["Collection", "Checkpoint time", "Lag", "Last commit", "Pages", "Records forwarded"], rows, "No collections.");
}

function eventsTable(events) {
  const rows = events.map((event) =>
    h(
      "tr",
      {},
      h("td", {}, when(event.eventTime)),
      h("td", {}, event.eventName),
      h("td", {}, event.status === "Healthy" ? healthBadge({ level: "healthy" }) : healthBadge({ level: event.severityLevel === "Warning" ? "warning" : "error" })),
      h("td", {}, event.details ? event.details.description : ""),
    ),
  );
  return table("Health events", ["Time", "Event", "Severity", "Description"], rows, "No health events.");
}

function historyTable(history) {
  const rows = history.map((entry) =>
    h(
      "tr",
      {},
      h("td", {}, when(entry.time)),
      h("td", {}, entry.state),
      h("td", {}, entry.reason, entry.error ? h("div", { class: "error-text" }, `${entry.error.type}${entry.error.code ? " " + entry.error.code : ""}${entry.error.collection ? " in " + collectionLabel(entry.error.collection) : ""}: ${entry.error.message}`) : null),
    ),
  );
  return table("State history", ["Time", "State", "Reason"], rows, "No recorded transitions.");
}

function renderSource({ cid, collector, source, history, progress, events, open, charts }) {
  const health = healthOf(source, open);
  const config = source.config;
  const fields = Object.entries(config.fields || {}).filter(([name]) => name !== "_siemForward");
  const dropped = new Set(source.droppedFields || []);
  const restart = h("button", { type: "button", class: "primary", id: "restart" }, "Restart Source");
  restart.addEventListener("click", () => restartSource(cid, source));
  const facts = [
    ["Collector", collector.name],
    ["Description", config.description || "–"],
    ["Category", config.category || "–"],
    ["Client ID", config.clientID],
    ["Collections", config.dataCollection.map(collectionLabel).join(", ")],
    ["Forward to SIEM", config.fields && config.fields._siemForward === true ? "yes" : "no"],
    ["SIEM mode", siemModeLabel(config.siemMode)],
    [
      "Fields",
      fields.length
        ? h("ul", { class: "field-list" }, fields.map(([name, value]) => h("li", {}, schemaMark(!dropped.has(name), name), ` ${name} = ${value}`)))
        : "–",
    ],
    ["Processing rules", (config.filters || []).length ? (config.filters || []).map((rule) => `${rule.name} (${rule.filterType})`).join(", ") : "–"],
  ];
  return [
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Collection"), " › ", collector.name, " › ", config.name),
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, config.name),
      h("div", { class: "head-status" }, healthBadge(health), statusCell(source, health)),
      h("div", { class: "buttons" }, h("a", { class: "button", href: `#/collectors/${enc(cid)}/sources/${enc(source.id)}/edit` }, "Edit"), restart),
    ),
    health.issue ? h("p", { class: `issue issue-${health.level}`, role: "note" }, icon(health.level), h("span", {}, health.issue)) : null,
    h("section", { "aria-labelledby": "h-config" }, h("h2", { id: "h-config" }, "Configuration"), h("dl", { class: "facts" }, facts.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]))),
    h("section", { "aria-labelledby": "h-progress" }, h("h2", { id: "h-progress" }, "Progress"), progressTable(progress)),
    chartsSection(charts),
    h("section", { "aria-labelledby": "h-events" }, h("h2", { id: "h-events" }, "Health events"), eventsTable(events)),
    h("section", { "aria-labelledby": "h-history" }, h("h2", { id: "h-history" }, "State history"), historyTable(history)),
  ];
}

async function restartSource(cid, source) {
  const name = source.config.name;
  const yes = await confirmDialog(
    "Restart source",
    `Restart ${name}? It starts again from its stored checkpoints: nothing collected is lost or sent twice.`,
    "Confirm",
  );
  if (!yes) return;
  try {
    const answer = await call("POST", sourcePath(cid, source.id) + "/action/restart");
    toast(`Restart of ${name} requested: the source is ${answer.data.source.state.state} again.`);
  } catch (failure) {
    toast(`Restart of ${name} failed: ${failure.message}`, "error");
  }
  lastRendered = "";
  await show();
}

// ---------------------------------------------------------------- the source form

function schemaMark(present, name) {
  const text = present ? `${name} is in the fields schema` : `${name} is not in the fields schema: it is dropped at forwarding`;
  return h("span", { class: `mark mark-${present ? "ok" : "missing"}`, role: "img", "aria-label": text, title: text }, icon(present ? "healthy" : "warning"));
}

function pathInput(path, attrs) {
  return h("input", { ...attrs, "data-path": path });
}

function labelled(id, label, control, help) {
  const helpId = help ? `${id}-help` : null;
  if (helpId) control.setAttribute("aria-describedby", helpId);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, help ? h("p", { id: helpId, class: "help" }, help) : null);
}

async function loadForm(cid, sid) {
  const [collector, schema, found] = await Promise.all([
    get(`/collectors/${enc(cid)}`),
    schemaNames(),
    sid ? call("GET", sourcePath(cid, sid)) : Promise.resolve(null),
  ]);
  return { cid, sid, collector: collector.collector, schema, source: found ? found.data.source : null, etag: found ? found.etag : null };
}

function renderForm(state) {
  const { cid, sid, collector, source } = state;
  const config = source ? source.config : { fields: {}, dataCollection: [], filters: [] };
  const fieldRows = h("div", { class: "rows", id: "field-rows" });
  const ruleRows = h("div", { class: "rows", id: "rule-rows" });
  const missingBox = h("div", { class: "missing-offer", hidden: true, role: "region", "aria-label": "Fields missing from the schema" });
  const summary = h("div", { class: "error-summary", role: "alert", hidden: true, tabindex: "-1" });
  const original = config.fields || {};

  function refreshMarks() {
    const missing = [];
    for (const row of fieldRows.children) {
      const name = row.querySelector(".field-name").value.trim();
      const slot = row.querySelector(".mark-slot");
      slot.replaceChildren();
      const offer = row.querySelector(".add-to-schema");
      if (!name) {
        offer.hidden = true;
        continue;
      }
      const present = name.startsWith("_") || state.schema.has(name.toLowerCase());
      slot.append(schemaMark(present, name));
      offer.hidden = present;
      offer.setAttribute("aria-label", `Add ${name} to the fields schema`);
      if (!present) missing.push(name);
    }
    missingBox.replaceChildren();
    missingBox.hidden = missing.length === 0;
    if (missing.length) {
      const what = missing.length === 1 ? `${missing[0]} is` : `${missing.join(", ")} are`;
      missingBox.append(icon("warning"), h("span", {}, `${what} not in the fields schema: dropped at forwarding unless added.`));
      if (missing.length > 1) {
        const all = h("button", { type: "button", class: "link" }, `Add all ${missing.length}`);
        all.addEventListener("click", () => addToSchema(missing));
        missingBox.append(all);
      }
    }
  }

  async function addToSchema(names) {
    for (const name of names) {
      try {
        await call("POST", "/fields", { fieldName: name });
        toast(`Field ${name} added to the fields schema.`);
      } catch (failure) {
        if (failure.status !== 409) {
          toast(`Field ${name} not added: ${failure.message}`, "error");
          continue;
        }
      }
      state.schema.add(name.toLowerCase());
    }
    refreshMarks();
  }

  function addFieldRow(name = "", value = "") {
    const n = ++uid;
    const nameInput = h("input", { id: `field-name-${n}`, class: "field-name", value: name, autocomplete: "off" });
    const valueInput = h("input", { id: `field-value-${n}`, class: "field-value", value: String(value), autocomplete: "off" });
    const offer = h("button", { type: "button", class: "link add-to-schema", hidden: true }, "Add to schema");
    offer.addEventListener("click", () => addToSchema([nameInput.value.trim()]));
    const remove = h("button", { type: "button", class: "link", "aria-label": `Remove field ${name || n}` }, "Remove");
    const row = h(
      "div",
      { class: "row" },
      h("span", { class: "mark-slot" }),
      h("label", { for: nameInput.id, class: "visually-hidden" }, "Field name"),
      nameInput,
      h("label", { for: valueInput.id, class: "visually-hidden" }, "Field value"),
      valueInput,
      offer,
      remove,
    );
    nameInput.placeholder = "name";
    valueInput.placeholder = "value";
    nameInput.addEventListener("input", refreshMarks);
    remove.addEventListener("click", () => {
      row.remove();
      refreshMarks();
    });
    fieldRows.append(row);
    refreshMarks();
    return nameInput;
  }

  function addRuleRow(rule = { name: "", filterType: "Exclude", regexp: "", mask: "" }) {
    const n = ++uid;
    const name = h("input", { id: `rule-name-${n}`, class: "rule-name", value: rule.name, autocomplete: "off" });
    const type = h("select", { id: `rule-type-${n}`, class: "rule-type" }, FILTER_TYPES.map((t) => h("option", { value: t, selected: t === rule.filterType }, t)));
    const regexp = h("input", { id: `rule-regexp-${n}`, class: "rule-regexp", value: rule.regexp, autocomplete: "off", spellcheck: "false" });
    const mask = h("input", { id: `rule-mask-${n}`, class: "rule-mask", value: rule.mask || "", autocomplete: "off" });
    const cell = (label, control, extra = "") => h("span", { class: `cell ${extra}` }, h("label", { for: control.id }, label), control);
    const maskField = cell("Mask", mask, "cell-mask");
    const syncMask = () => (maskField.hidden = type.value !== "Mask");
    type.addEventListener("change", syncMask);
    const remove = h("button", { type: "button", class: "link", "aria-label": `Remove rule ${rule.name || n}` }, "Remove");
    const row = h(
      "div",
      { class: "rule" },
      cell("Name", name),
      cell("Type", type),
      cell("Regular expression", regexp, "cell-regexp"),
      maskField,
      h("span", { class: "cell cell-remove" }, remove),
    );
    remove.addEventListener("click", () => row.remove());
    ruleRows.append(row);
    syncMask();
  }

  const nameInput = pathInput("source.config.name", { id: "f-name", value: config.name || "", autocomplete: "off", required: true });
  const description = h("textarea", { id: "f-description", "data-path": "source.config.description", rows: 2 }, config.description || "");
  const category = pathInput("source.config.category", { id: "f-category", value: config.category || "", autocomplete: "off" });
  const siem = h("input", { id: "f-siem", type: "checkbox", checked: original._siemForward === true });
  const siemMode = h(
    "select",
    { id: "f-siem-mode", "data-path": "source.config.siemMode" },
    SIEM_MODES.map(([value, label]) => h("option", { value, selected: value === (config.siemMode || "auto") }, label)),
  );
  const clientId = pathInput("source.config.clientID", { id: "f-client-id", value: config.clientID || "", autocomplete: "off", spellcheck: "false" });
  const secret = pathInput("source.config.clientSecret", {
    id: "f-client-secret",
    type: "password",
    autocomplete: "new-password",
    placeholder: source ? `${MASK} (unchanged)` : "",
  });
  const collections = h(
    "fieldset",
    { class: "checks", "data-path": "source.config.dataCollection", id: "f-collections" },
    h("legend", {}, "Supported API to collect"),
    COLLECTIONS.map(([value, label]) =>
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "dataCollection", value, checked: (config.dataCollection || []).includes(value) }), ` ${label}`),
    ),
  );
  const addField = h("button", { type: "button", class: "link", id: "add-field" }, "+ Add Field");
  addField.addEventListener("click", () => addFieldRow().focus());
  const addRule = h("button", { type: "button", class: "link", id: "add-rule" }, "+ Add Rule");
  addRule.addEventListener("click", () => {
    addRuleRow();
    ruleRows.lastElementChild.querySelector("input").focus();
  });

  const form = h(
    "form",
    { class: "source-form", novalidate: true, "aria-labelledby": "form-title" },
    summary,
    labelled("f-name", "Name", nameInput, "Unique in the collector; tags every record as _source."),
    labelled("f-description", "Description (optional)", description),
    labelled("f-category", "Source Category (optional)", category, "Tags every record as _sourceCategory."),
    h("div", { class: "field" }, h("label", { class: "check" }, siem, " Forward to SIEM"), h("p", { class: "help" }, "Sets _siemForward: adds the _siemVendor, _siemProduct, _siemFormat and _siemEventID fields.")),
    h("fieldset", { class: "group", "data-path": "source.config.fields", id: "f-fields" }, h("legend", {}, "Fields (optional)"), fieldRows, missingBox, addField),
    labelled("f-client-id", "Client ID", clientId),
    labelled("f-client-secret", "Client Secret", secret, source ? "Leave empty to keep the stored secret." : "Stored encrypted; never shown again."),
    collections,
    labelled("f-siem-mode", "SIEM mode", siemMode, "How SIEM logs are read. Auto switches between the two without a gap or a duplicate."),
    h("fieldset", { class: "group", "data-path": "source.config.filters", id: "f-rules" }, h("legend", {}, "Processing Rules for Logs (optional)"), ruleRows, addRule),
    h("div", { class: "buttons" }, h("a", { class: "button", href: sid ? `#/collectors/${enc(cid)}/sources/${enc(sid)}` : "#/" }, "Cancel"), h("button", { type: "submit", class: "primary" }, "Save")),
  );
  for (const [name, value] of Object.entries(original)) if (name !== "_siemForward") addFieldRow(name, value);
  for (const rule of config.filters || []) addRuleRow(rule);

  function body() {
    const fields = {};
    for (const row of fieldRows.children) {
      const name = row.querySelector(".field-name").value.trim();
      if (!name) continue;
      const text = row.querySelector(".field-value").value;
      fields[name] = name in original && String(original[name]) === text ? original[name] : text;
    }
    if (siem.checked) fields._siemForward = true;
    const built = {
      name: nameInput.value,
      description: description.value || null,
      category: category.value || null,
      fields,
      clientID: clientId.value,
      dataCollection: [...collections.querySelectorAll("input:checked")].map((box) => box.value),
      siemMode: siemMode.value,
      filters: [...ruleRows.children].map((row) => {
        const rule = { name: row.querySelector(".rule-name").value, filterType: row.querySelector(".rule-type").value, regexp: row.querySelector(".rule-regexp").value };
        if (rule.filterType === "Mask") rule.mask = row.querySelector(".rule-mask").value || "#";
        return rule;
      }),
    };
    if (secret.value || !source) built.clientSecret = secret.value;
    if (config.collectFrom) built.collectFrom = config.collectFrom; // kept on edit (set through the API)
    return { "api.version": "v1", source: { config: built, schemaRef: { type: "Mimecast" }, sourceType: "Universal" } };
  }

  function clearErrors() {
    summary.hidden = true;
    summary.replaceChildren();
    for (const old of form.querySelectorAll(".field-error")) old.remove();
    for (const bad of form.querySelectorAll("[aria-invalid]")) {
      bad.removeAttribute("aria-invalid");
      const described = (bad.getAttribute("aria-describedby") || "").split(" ").filter((id) => !id.startsWith("err-"));
      if (described.length) bad.setAttribute("aria-describedby", described.join(" "));
      else bad.removeAttribute("aria-describedby");
    }
  }

  function target(path) {
    const rule = /^source\.config\.filters\[(\d+)\]\.(\w+)/.exec(path);
    if (rule) {
      const row = ruleRows.children[Number(rule[1])];
      const control = row && row.querySelector(`.rule-${rule[2]}`);
      if (control) return control;
    }
    let probe = path;
    for (;;) {
      const found = form.querySelector(`[data-path="${CSS.escape(probe)}"]`);
      if (found) return found;
      const shorter = probe.replace(/(\[\d+\]|\.[^.[]+)$/, "");
      if (shorter === probe) return null;
      probe = shorter;
    }
  }

  function showErrors(status, message, code) {
    // The API names each field: "source.config.clientID: field required; source.config.name: ...".
    const parts = message.split(/; (?=(?:source|body)[\w.[\]]*(?: \(at character \d+\))?: )/);
    const problems = parts.map((part) => {
      const match = /^((?:source|body)[\w.[\]]*)(?: \(at character \d+\))?: (.*)$/s.exec(part);
      return match ? { path: match[1], text: match[2] } : { path: null, text: part };
    });
    if (code.endsWith("name.duplicate")) problems.splice(0, problems.length, { path: "source.config.name", text: message });
    let first = null;
    for (const problem of problems) {
      const control = problem.path ? target(problem.path) : null;
      if (!control) continue;
      const id = `err-${++uid}`;
      const note = h("p", { class: "field-error", id }, icon("error"), h("span", {}, problem.text));
      if (control.tagName === "FIELDSET") control.append(note);
      else control.insertAdjacentElement("afterend", note);
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("aria-describedby", [control.getAttribute("aria-describedby"), id].filter(Boolean).join(" "));
      first = first || control;
    }
    summary.append(h("p", {}, h("strong", {}, `Not saved (${status || "no answer"}): `), message));
    summary.hidden = false;
    const focusable = first && (first.tagName === "FIELDSET" ? first.querySelector("input, button") : first);
    (focusable || summary).focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    try {
      const answer = sid
        ? await call("PUT", sourcePath(cid, sid), body(), state.etag ? { "If-Match": state.etag } : {})
        : await call("POST", `/collectors/${enc(cid)}/sources`, body());
      const saved = answer.data.source;
      toast(`Source ${saved.config.name} ${sid ? "updated" : "created"}; it is ${saved.state.state}.`);
      location.hash = `#/collectors/${enc(cid)}/sources/${enc(saved.id)}`;
    } catch (failure) {
      const message =
        failure.status === 412
          ? "someone changed this source since you opened it: reload the page to edit the current version"
          : failure.message;
      showErrors(failure.status, message, (failure.body && failure.body.code) || "");
    }
  });

  return [
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Collection"), " › ", collector.name, " › ", source ? config.name : "New source"),
    h("div", { class: "page-head" }, h("h1", { id: "form-title" }, source ? `Edit ${config.name}` : "Add a Mimecast source")),
    form,
  ];
}

// ---------------------------------------------------------------- routing and refresh

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "collectors" && parts[2] === "sources" && parts.length === 4 && parts[3] === "new") return { view: "form", cid: parts[1], sid: null };
  if (parts[0] === "collectors" && parts[2] === "sources" && parts.length === 5 && parts[4] === "edit") return { view: "form", cid: parts[1], sid: parts[3] };
  if (parts[0] === "collectors" && parts[2] === "sources" && parts.length === 4) return { view: "source", cid: parts[1], sid: parts[3] };
  if (parts[0] === "destinations") return { view: parts[1] === "new" ? "destination-form" : "destinations" };
  return { view: "list" };
}

/** Where the focused element sits under main, by child indexes, so a refresh can put focus back. */
function focusPath() {
  const path = [];
  for (let node = document.activeElement; node && node !== main; node = node.parentElement) {
    if (!node.parentElement) return null;
    path.unshift([...node.parentElement.children].indexOf(node));
  }
  return document.activeElement && main.contains(document.activeElement) ? { path, tag: document.activeElement.tagName } : null;
}

function paint(nodes, key) {
  if (key === lastRendered) return;
  const focused = document.activeElement && document.activeElement.getAttribute("data-focus");
  const where = focused ? null : focusPath();
  main.replaceChildren(...nodes.flat().filter(Boolean));
  lastRendered = key;
  let again = focused ? main.querySelector(`[data-focus="${CSS.escape(focused)}"]`) : null;
  if (where) {
    again = main;
    for (const index of where.path) again = again && again.children[index];
    if (again && again.tagName !== where.tag) again = null;
  }
  if (again) again.focus();
  document.getElementById("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

function failurePanel(failure) {
  return [h("div", { class: "page-head" }, h("h1", {}, "Collection")), h("p", { class: "issue issue-error", role: "alert" }, icon("error"), h("span", {}, `The API answered ${failure.status || "nothing"}: ${failure.message}`))];
}

async function show({ fresh = false } = {}) {
  clearTimeout(timer);
  const where = route();
  const hash = location.hash;
  try {
    if (where.view === "form") {
      if (!fresh) return;
      const state = await loadForm(where.cid, where.sid);
      if (location.hash !== hash) return;
      paint(renderForm(state), `form:${hash}:${Date.now()}`);
      main.focus();
      return; // no refresh while editing
    }
    if (where.view === "destination-form") {
      if (!fresh) return;
      paint(renderDestinationForm({ h, call, toast }), `destination-form:${Date.now()}`);
      return; // no refresh while editing
    }
    if (where.view === "destinations") {
      const data = await loadDestinations(get);
      if (location.hash !== hash) return;
      const refresh = () => ((lastRendered = ""), show());
      paint(renderDestinations(data, { h, call, refresh, toast }), `${hash}:${JSON.stringify(data)}`);
      if (fresh) main.focus();
      if (!document.hidden) timer = setTimeout(() => show(), REFRESH_MS);
      return;
    }
    const data = where.view === "source" ? await loadSource(where.cid, where.sid) : await loadList();
    if (location.hash !== hash) return;
    const nodes = where.view === "source" ? renderSource(data) : renderList(data);
    paint(nodes, `${hash}:${JSON.stringify(data)}`);
    if (fresh) main.focus();
  } catch (failure) {
    paint(failurePanel(failure), `failure:${hash}:${failure.status}:${failure.message}`);
  }
  // No polling while the tab is hidden; it refreshes as soon as it is shown again.
  if (!document.hidden) timer = setTimeout(() => show(), REFRESH_MS);
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && !["form", "destination-form"].includes(route().view)) show();
});

window.addEventListener("hashchange", () => {
  lastRendered = "";
  show({ fresh: true });
});
document.getElementById("refresh").addEventListener("click", () => {
  lastRendered = "";
  show({ fresh: true });
});
show({ fresh: true });
