// The gallery's ingestion-health page: the consistency checker's report (/ingestion/health) and
// its last minutes (/ingestion/history) as badges, small hand-drawn SVG charts and count bars.
// Uses `el` and `view` from gallery.js; data is only ever set as text, never as HTML.
"use strict";

const HEALTH_REFRESH_MS = 3000;
const SVG_NS = "http://www.w3.org/2000/svg";
// The state word is always shown; the plain words and the symbol say it again without colour.
const STATE_WORDS = {
  OK: ["✓", "working"],
  WARN: ["!", "falling behind"],
  REWIND: ["↺", "offsets went back"],
  STALL: ["✕", "stuck"],
  STOP: ["✕", "stopped"],
  ERR: ["✕", "failing"],
};
const COMPONENT_NAMES = {
  kafka: "Kafka", connect: "Connect", connector: "Sink connector",
  elasticsearch: "Elasticsearch", index: "Index",
};
let healthGeneration = 0;

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function badge(state) {
  const [symbol, words] = STATE_WORDS[state] || ["?", "unknown"];
  return el("span", { class: "badge", "data-state": state },
    el("span", { "aria-hidden": "true" }, symbol), ` ${state} `, el("small", {}, words));
}

const countText = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en"));
const perSecond = (r) => (r === null || r === undefined ? "–" : `${r < 10 ? r.toFixed(1) : Math.round(r)}/s`);

function duration(seconds) {
  if (seconds < 1) return "under a second";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

const ago = (seconds) => (seconds < 5 ? "just now" : `${duration(seconds)} ago`);

// A line of one leg's figure (`lag` or `rate`) over the history's points; a poll that could not
// read the offsets (null) breaks the line rather than drawing a zero.
function sparkline(history, leg, key, what, format) {
  const width = 160, height = 36, pad = 3;
  const points = history.points.map((p) => [p.t, p.legs[leg] ? p.legs[leg][key] : null]);
  const known = points.filter(([, value]) => value !== null && value !== undefined);
  const first = points.length ? points[0][0] : 0;
  const seconds = points.length ? points[points.length - 1][0] - first : 0;
  const peak = known.reduce((most, [, value]) => Math.max(most, value), 0);
  const x = (t) => pad + ((t - first) / Math.max(seconds, 1)) * (width - 2 * pad);
  const y = (value) => height - pad - (value / (peak || 1)) * (height - 2 * pad);
  const label = known.length
    ? `${what} over the last ${duration(seconds)}: now ${format(known[known.length - 1][1])}, highest ${format(peak)}`
    : `${what}: no figures yet`;
  const chart = svg("svg", {
    class: "sparkline", "data-series": key, viewBox: `0 0 ${width} ${height}`,
    preserveAspectRatio: "none", role: "img", "aria-label": label,
  }, svg("title", {}, label),
  svg("line", { class: "baseline", x1: pad, x2: width - pad, y1: height - pad, y2: height - pad }));
  let line = [];
  const draw = () => {
    if (line.length) chart.append(svg("polyline", { points: line.join(" ") }));
    line = [];
  };
  for (const [t, value] of points) {
    if (value === null || value === undefined) draw();
    // Two coordinates even for a single poll, so that a line is drawn from the first one.
    else line.push(`${x(t).toFixed(1)},${y(value).toFixed(1)}`);
  }
  if (line.length === 1) line.push(line[0].replace(/^[^,]+/, String(width - pad)));
  draw();
  if (known.length) {
    const [t, value] = known[known.length - 1];
    chart.append(svg("circle", { cx: x(t).toFixed(1), cy: y(value).toFixed(1), r: 2.5 }));
  }
  const caption = known.length ? `${what} · last ${duration(seconds)}` : what;
  return el("figure", { class: "chart" }, el("figcaption", {}, caption), chart,
    el("span", { class: "now", "aria-hidden": "true" }, known.length ? format(known[known.length - 1][1]) : "–"));
}

function legSection(leg, history) {
  const catchUp = leg.catch_up_s === 0 ? "caught up"
    : leg.catch_up_s === null ? (leg.lag ? "not draining" : "–") : `about ${duration(leg.catch_up_s)}`;
  const facts = el("dl", { class: "facts" });
  for (const [term, value] of [
    ["catch-up", catchUp],
    ["last progress", leg.seconds_since_progress === null ? "–" : ago(leg.seconds_since_progress)],
    ["topic", leg.topic], ["consumer group", leg.group],
  ]) facts.append(el("dt", {}, term), el("dd", {}, value));
  return el("section", { class: "leg", "data-leg": String(leg.leg), "data-state": leg.state },
    el("h2", {}, `Leg ${leg.leg}: ${leg.name.replace("->", "→")}`),
    el("p", { class: "state" }, badge(leg.state), " ", el("span", { class: "reason" }, leg.reason)),
    el("div", { class: "charts" },
      sparkline(history, String(leg.leg), "lag", "Lag (records waiting)", countText),
      sparkline(history, String(leg.leg), "rate", "Ingest rate", perSecond)),
    facts);
}

function countTile(name, count, scale, fault = false) {
  const fill = el("span", { class: "fill" });
  fill.style.width = `${Math.min(100, (100 * count) / Math.max(scale, 1))}%`;
  return el("div", { class: `count${fault && count > 0 ? " fault" : ""}`, "data-count": name },
    el("span", { class: "figure" }, countText(count)), el("span", { class: "label" }, name),
    el("span", { class: "bar", "aria-hidden": "true" }, fill));
}

function countsSection(report) {
  const r = report.reconciliation;
  const section = el("section", { id: "counts" }, el("h2", {}, "Where the published images are"));
  if (!r) {
    section.append(el("p", { id: "reconciled" }, "Not reconciled yet: the checker has not compared the topics with the index."));
    return section;
  }
  // Against the checker's clock, not the browser's.
  const age = Date.parse(report.checked_at) / 1000 - r.finished_at;
  section.append(el("p", { id: "reconciled" }, "Last reconciled ",
    el("time", { datetime: new Date(r.finished_at * 1000).toISOString() }, ago(Math.max(0, age))),
    ` (took ${r.seconds.toFixed(1)} s)`));
  const scale = Math.max(r.published, r.vectorized, r.indexed);
  const tiles = [
    countTile("published", r.published, scale), countTile("vectorized", r.vectorized, scale),
    countTile("indexed", r.indexed, scale),
    countTile("in flight", r.pending_vectorizing + r.pending_indexing, scale),
    countTile("dead-lettered", r.dead_lettered, scale),
    ...["unresolved", "missing", "extra", "stale"].map((name) => countTile(name, r[name], scale, true)),
  ];
  if (r.removed) tiles.push(countTile("removed", r.removed, scale));
  if (r.rejected_by_sink) tiles.push(countTile("rejected by the sink", r.rejected_by_sink, scale, true));
  section.append(el("div", { class: "counts" }, ...tiles));
  const reasons = Object.entries(r.dead_letters_by_reason || {});
  if (reasons.length) {
    const letters = reasons.reduce((sum, [, n]) => sum + n, 0);
    const bar = el("div", { class: "reasons", "aria-hidden": "true" });
    const legend = el("ul", { class: "legend", "aria-label": "Dead letters by reason" });
    reasons.forEach(([reason, n], i) => {
      const part = el("span", { "data-hue": String(i % 4) });
      part.style.width = `${(100 * n) / letters}%`;
      bar.append(part);
      legend.append(el("li", { "data-reason": reason }, el("span", { class: "swatch", "data-hue": String(i % 4) }),
        `${reason}: ${countText(n)}`));
    });
    section.append(el("h3", {}, "Dead letters by reason"), bar, legend);
  }
  return section;
}

function componentsSection(components) {
  return el("section", { id: "components" }, el("h2", {}, "Components"),
    el("ul", { class: "components" }, ...components.map((c) => el("li", { "data-component": c.name },
      el("strong", {}, COMPONENT_NAMES[c.name] || c.name), " ", badge(c.state),
      el("small", { class: "reason" }, c.reason)))));
}

// Text with `commands` in backticks, the commands set as code.
function withCode(text) {
  return text.split("`").map((part, i) => (i % 2 ? el("code", {}, part) : part));
}

const sentence = (text) => text.charAt(0).toUpperCase() + text.slice(1);

async function fetchAnswer(url) {
  try {
    const response = await fetch(url, { cache: "no-store" });
    return { status: response.status, body: await response.json().catch(() => ({})) };
  } catch (error) {
    return { status: 0, body: { error: "the search API cannot be reached" } };
  }
}

async function healthPage() {
  const mine = ++healthGeneration;
  const status = el("p", { id: "health-status", role: "status" }, "Checking…");
  const readiness = el("p", { id: "readiness" });
  // Figures change every few seconds: only the status line above is announced.
  const checker = el("div", { id: "checker", "aria-live": "off" });
  view.replaceChildren(el("h1", {}, "Ingestion health"), status, readiness, checker);

  const refresh = async () => {
    const [ready, health, history] = await Promise.all(
      ["/readyz", "/ingestion/health", "/ingestion/history"].map(fetchAnswer));
    if (mine !== healthGeneration) return;
    readiness.className = ready.status === 200 ? "status-ok" : "status-bad";
    readiness.textContent = ready.status === 200
      ? `Search index ${ready.body.index} is ready`
      : `Search index not ready: ${ready.body.status || "the search API cannot be reached"}`;
    const report = health.body;
    let said;
    if (report.state) {
      const recent = history.status === 200 && history.body.points ? history.body : { points: [] };
      checker.replaceChildren(
        el("section", { id: "overall", "data-state": report.state },
          el("p", {}, badge(report.state), " ", el("span", {}, "checked at ",
            el("time", { datetime: report.checked_at }, report.checked_at ? new Date(report.checked_at).toLocaleTimeString() : "–"))),
          el("p", { class: "reason" }, report.reason)),
        el("div", { class: "legs" }, ...(report.legs || []).map((leg) => legSection(leg, recent))),
        countsSection(report),
        ...(report.components && report.components.length ? [componentsSection(report.components)] : []));
      said = `Ingestion ${report.state}: ${STATE_WORDS[report.state] ? STATE_WORDS[report.state][1] : ""}`;
    } else {
      const problem = report.error || `the consistency checker cannot be asked (${health.status})`;
      const details = [["Why: ", report.reason], ["What to do: ", report.hint]].filter(([, text]) => text);
      checker.replaceChildren(el("div", { id: "checker-error", class: "error" },
        el("p", {}, el("strong", {}, `${sentence(problem)}.`)),
        ...details.map(([lead, text]) => el("p", {}, lead, ...withCode(text)))));
      said = `Ingestion health unknown: ${problem}`;
    }
    if (status.textContent !== said) status.textContent = said;
  };

  // An answer the page cannot draw is said, and the next refresh tries again.
  const safely = () => refresh().catch((error) => checker.replaceChildren(
    el("p", { class: "error" }, `The checker's answer could not be shown: ${error.message}`)));
  await safely();
  (async () => {
    while (mine === healthGeneration && location.hash === "#/health") {
      await new Promise((resolve) => setTimeout(resolve, HEALTH_REFRESH_MS));
      // A tab in the background is not refreshed: no one looks, and the checker is spared.
      if (mine === healthGeneration && location.hash === "#/health" && !document.hidden) await safely();
    }
  })();
}
