// The imgsim gallery: plain DOM, no build step. Data is only ever set as text, never as HTML.
"use strict";

const view = document.getElementById("view");
// What the index behind the alias holds (GET /representations): asked again on every page, so
// that the switches follow a model swap without a reload.
let options = null;

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

async function getJson(url, init, onWait) {
  // A 503 with Retry-After (Elasticsearch away, the model still loading) is waited out.
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(url, init);
    const body = await response.json().catch(() => ({}));
    const retryAfter = Number(response.headers.get("Retry-After"));
    if (response.status === 503 && retryAfter > 0 && attempt < 40) {
      if (onWait) onWait(body.error || "unavailable");
      await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
      continue;
    }
    if (!response.ok) {
      const error = new Error(body.error || `${response.status} ${response.statusText}`);
      error.status = response.status;
      throw error;
    }
    return body;
  }
}

const path = (id) => id.split("/").map(encodeURIComponent).join("/");

// One area of the page that shows the answer of one search at a time (the gallery's results, a
// painting's similar paintings). A new search aborts the one in flight (the streaming endpoints
// stop their query when the client leaves) and only the latest answer is ever applied; while it
// runs, the area says so (`aria-busy` and the `loading` class, which the stylesheet shows).
class SearchArea {
  constructor(node) {
    this.node = node;
    this.controller = null;
  }

  async run(url, init, apply, onWait) {
    if (this.controller) this.controller.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.node.setAttribute("aria-busy", "true");
    this.node.classList.add("loading");
    try {
      const body = await getJson(url, { ...init, signal: controller.signal },
        (why) => controller === this.controller && onWait && onWait(why));
      if (controller === this.controller) apply(body);
    } catch (error) {
      if (controller === this.controller && error.name !== "AbortError") {
        this.node.replaceChildren(el("p", { class: "error" }, String(error.message)));
      }
    } finally {
      if (controller === this.controller) {
        this.node.setAttribute("aria-busy", "false");
        this.node.classList.remove("loading");
        this.controller = null;
      }
    }
  }
}

// What a view shows is in the URL, after the hash: `#/?artist=...&pages=2` for the gallery,
// `#/painting/<id>?representation=style&metric=l2` for a painting. Back, reload and a shared link
// all come back to the same view.
function hashParams() {
  const hash = location.hash || "#/";
  const at = hash.indexOf("?");
  return new URLSearchParams(at < 0 ? "" : hash.slice(at + 1));
}

function hashRoute() {
  const hash = location.hash || "#/";
  const at = hash.indexOf("?");
  return at < 0 ? hash : hash.slice(0, at);
}

// The view's state changed in place (a select, another page of results): the URL follows
// without a new history entry, so Back leaves the view rather than undoing each click.
function replaceParams(params) {
  const query = params.toString();
  history.replaceState(history.state, "", `${hashRoute()}${query ? `?${query}` : ""}`);
}

// Scroll positions are restored by the page itself, once the view is drawn again: the browser's
// own restoring happens before the results have come back.
history.scrollRestoration = "manual";
// While a view is drawn its height changes under the scroll position: that is not the reader
// scrolling, and must not overwrite the position the view is to come back to.
let drawing = false;
function rememberScroll() {
  if (!drawing) history.replaceState({ ...(history.state || {}), scroll: window.scrollY }, "");
}
window.addEventListener("scroll", () => {
  clearTimeout(rememberScroll.timer);
  if (!drawing) rememberScroll.timer = setTimeout(rememberScroll, 100);
});
function restoreScroll() {
  // A view seen before comes back where it was left; a new one opens at its top.
  window.scrollTo(0, (history.state && history.state.scroll) || 0);
  drawing = false;
}

// A select changed with the arrow keys fires `change` at every step: the search starts once the
// value has rested this long (a pick with the mouse rests at once).
const SETTLE_MS = 300;
function onSettled(select, act) {
  let timer = null;
  let keyed = false;
  select.addEventListener("keydown", () => { keyed = true; });
  select.addEventListener("change", () => {
    clearTimeout(timer);
    if (keyed) timer = setTimeout(act, SETTLE_MS);
    else act();
    keyed = false;
  });
}

// A painting whose file is missing or unreadable under the image root (the API answers 404 or
// 422 and counts it): a frame that says so instead of the browser's broken-image icon.
function placeholderOnError(image, className, text) {
  image.addEventListener("error", () => {
    image.replaceWith(el("div", { class: className, role: "img", "aria-label": text }, text));
  }, { once: true });
}

function tile(painting) {
  const meta = painting.metadata || {};
  const title = meta.title || painting.id;
  const thumbnail = (size) => `/thumbnails/${path(painting.id)}?size=${size}`;
  // Thumbnails for the screen's pixel density: a phone's 2x or 3x screen gets the larger one.
  const image = el("img", {
    src: thumbnail(256),
    srcset: `${thumbnail(256)} 1x, ${thumbnail(512)} 2x`,
    alt: meta.artist ? `${title} by ${meta.artist}` : title,
    loading: "lazy",
  });
  placeholderOnError(image, "missing-image", "No image: its file is missing or unreadable");
  // No score on the tile: the order already says which is closer, and a bare 0.983 says no more.
  // Each painting keeps its shape: the tile's width follows the stored width and height, so a row
  // of tiles is justified and nothing moves when the images arrive.
  const ratio = painting.width > 0 && painting.height > 0
    ? Math.min(2.5, Math.max(0.4, painting.width / painting.height)) : 1;
  return el("a", { class: "tile", href: `#/painting/${path(painting.id)}`, "data-id": painting.id,
    style: `--ratio: ${ratio.toFixed(3)}` },
    image, el("span", {}, title, el("br"), el("small", {}, meta.artist || "")));
}

function grid(paintings) {
  return el("div", { class: "grid" }, ...paintings.map(tile));
}

const FILTERS = ["q", "artist", "style", "genre", "year_from", "year_to"];

// A representation named by what it captures: the part of its description after the colon
// ("pooled last convolutional block: what is depicted" -> "What is depicted").
function plainName(representation) {
  const text = representation.description || representation.name;
  const plain = text.includes(": ") ? text.slice(text.indexOf(": ") + 2) : text;
  return plain.charAt(0).toUpperCase() + plain.slice(1);
}

const METRICS = {
  cosine: "Direction (cosine)",
  l2: "Distance (L2)",
};
const METRIC_NOTE = "Direction compares what two paintings have most of; distance also " +
  "counts how strongly they have it.";

// The metadata a person reads, with its label; the rest (file sizes, splits, sources) is
// bookkeeping and stays out. The year is shown once: `date` only when there is no `year`.
const FACTS = [["artist", "Artist"], ["style", "Style"], ["genre", "Genre"], ["year", "Year"], ["date", "Date"]];
const LINKED = new Set(["artist", "style", "genre"]);

function setTitle(text) {
  document.title = `${text} — imgsim`;
}

// A live region of its own announces what changed ("48 paintings"), not the whole grid.
function announce(text) {
  const status = document.getElementById("status");
  if (status) status.textContent = text;
}

async function galleryPage() {
  const state = hashParams();
  setTitle(state.toString() ? "Paintings, filtered" : "Paintings");
  const form = el("form", { class: "filters", role: "search", id: "filters", "aria-label": "Filters" });
  // Artist, style and genre offer the values of the paintings shown, with their counts.
  const field = (name, label, type = "text") => {
    const input = el("input", { name, type, value: state.get(name) || "" });
    if (["artist", "style", "genre"].includes(name)) {
      input.setAttribute("list", `${name}-values`);
      input.setAttribute("autocomplete", "off");
    }
    return el("label", {}, label, input);
  };
  const pickLists = ["artist", "style", "genre"].map((name) => el("datalist", { id: `${name}-values` }));
  form.append(field("q", "Title"), field("artist", "Artist"), field("style", "Style"),
    field("genre", "Genre"), field("year_from", "From year", "number"),
    field("year_to", "To year", "number"), el("button", { type: "submit" }, "Filter"),
    el("button", { type: "button", onclick: () => load({ random: true }) }, "Surprise me"));
  const results = el("div", { id: "results" });
  const area = new SearchArea(results);
  const more = el("button", { type: "button", hidden: "", class: "primary" }, "More");
  // Search by image only where the server offers it; else one line says so.
  const drop = options.upload_search === false
    ? el("p", { class: "note", id: "no-upload" },
      "Search by image is off on this server: its search API has no vectorizer to ask.")
    : uploadZone(area, more);
  // On a phone the filters wait behind a button, so the paintings start on the first screen.
  const toggle = el("button", { type: "button", class: "filters-toggle", "aria-controls": "filters",
    "aria-expanded": "false" }, state.toString() ? "Filters (on)" : "Filters");
  toggle.addEventListener("click", () => {
    const open = form.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
  });
  const count = el("p", { class: "count", id: "count" });
  view.replaceChildren(el("h1", { tabindex: "-1" }, "Paintings"), toggle, form, ...pickLists, drop,
    count, results, more);
  let cursor = null;
  let pages = 0;

  function filters() {
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value && FILTERS.includes(key)) params.set(key, value);
    return params;
  }

  // One page of results, after `cursor` when appending; resolves once it is shown.
  async function load({ random = false, append = false } = {}) {
    // The filters as they are when asked: what the URL records is what this answer shows, not
    // what has been typed since.
    const asked = filters();
    const params = new URLSearchParams(asked);
    if (append && cursor) params.set("after", cursor);
    await area.run(`/${random ? "random" : "paintings"}?${params}`, {}, (body) => {
      cursor = body.next || null;
      more.hidden = !cursor;
      const tiles = grid(body.paintings);
      pages = append ? pages + 1 : 1;
      if (append) results.querySelector(".grid").append(...tiles.children);
      else if (body.paintings.length) results.replaceChildren(tiles);
      else results.replaceChildren(empty());
      const shown = results.querySelectorAll(".tile").length;
      const total = random ? shown : body.total ?? shown;
      count.textContent = shown ? (shown < total ? `${shown} of ${total} paintings` : `${total} paintings`) : "";
      announce(shown ? count.textContent : "No paintings match");
      for (const list of pickLists) {
        const values = (body.facets || {})[list.id.replace("-values", "")];
        if (values) list.replaceChildren(...values.map((facet) =>
          el("option", { value: facet.value, label: `${facet.value} (${facet.count})` })));
      }
      if (!random) {
        if (pages > 1) asked.set("pages", String(pages));
        replaceParams(asked);
      }
    });
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    // New filters are a new view: a history entry of its own, which Back returns from.
    const query = filters().toString();
    const wanted = `#/${query ? `?${query}` : ""}`;
    if (location.hash === wanted) load();  // the same view again: no hashchange to wait for
    else location.hash = wanted;
  });
  more.addEventListener("click", () => load({ append: true }));

  function empty() {
    const clear = el("button", { type: "button", class: "primary" }, "Clear the filters");
    clear.addEventListener("click", () => { location.hash = "#/"; });
    return el("div", { class: "empty" },
      el("p", {}, "No paintings match these filters."), clear);
  }
  await load();
  // As many pages as the URL says were shown, then the scroll position they were left at.
  const wanted = Math.min(Number(state.get("pages")) || 1, 20);
  while (pages < wanted && cursor) await load({ append: true });
  restoreScroll();
}

function uploadZone(area, more) {
  const results = area.node;
  const input = el("input", { type: "file", accept: "image/*", id: "upload" });
  const zone = el("div", { class: "drop", id: "drop" },
    el("label", { for: "upload" }, "Drop an image here to find similar paintings, or choose one: "), input);
  const search = async (file) => {
    more.hidden = true;
    results.replaceChildren(el("p", {}, `Searching with ${file.name}…`));
    const query = new URLSearchParams({ representation: options.default, k: 24 });
    await area.run(`/similar/upload?${query}`,
      { method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" } },
      (body) => results.replaceChildren(el("h2", {}, `Similar to ${file.name}`), grid(body.results[0].hits)),
      (why) => results.replaceChildren(el("p", {}, `${why} (retrying)`)));
  };
  input.addEventListener("change", () => input.files[0] && search(input.files[0]));
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files[0]) search(event.dataTransfer.files[0]);
  });
  return zone;
}

async function paintingPage(id) {
  let painting;
  try {
    painting = await getJson(`/paintings/${path(id)}`);
  } catch (error) {
    const missing = error.status === 404 || error.status === 400;
    setTitle(missing ? "Painting not found" : "Painting unavailable");
    view.replaceChildren(
      el("h1", { tabindex: "-1" }, missing ? "Painting not found" : "This painting cannot be shown"),
      el("p", {}, missing ? `No painting has the id ${id}.` : String(error.message)),
      el("p", {}, el("a", { href: "#/" }, "Back to all paintings")));
    return;
  }
  const meta = painting.metadata || {};
  setTitle(meta.title || id);
  const facts = el("dl");
  for (const [key, label] of FACTS) {
    const value = meta[key];
    if (value === undefined || value === null || value === "") continue;
    if (key === "date" && meta.year !== undefined && meta.year !== null) continue;
    const shown = LINKED.has(key)
      ? el("a", { href: `#/?${new URLSearchParams({ [key]: String(value) })}` }, String(value))
      : String(value);
    facts.append(el("dt", {}, label), el("dd", {}, shown));
  }
  const select = (name, label, choices) => {
    const node = el("select", { name, id: name }, ...choices.map(([value, text]) => el("option", { value }, text)));
    return [node, el("label", { for: name }, label)];
  };
  const state = hashParams();
  const names = options.representations.map((r) => r.name);
  const [representation, representationLabel] = select("representation", "Similar by",
    options.representations.map((r) => [r.name, `${plainName(r)} (${r.name})`]));
  representation.value = names.includes(state.get("representation")) ? state.get("representation") : options.default;
  const [metric, metricLabel] = select("metric", "Measured as",
    options.metrics.map((m) => [m, METRICS[m] || m]));
  if (options.metrics.includes(state.get("metric"))) metric.value = state.get("metric");
  const similar = el("div", { id: "similar", "aria-busy": "true" });
  const area = new SearchArea(similar);
  // A sized rendition, not the original file (which may be tens of megabytes); the original is
  // a link away.
  const rendition = `/thumbnails/${path(id)}?size=512`;
  const image = el("img", { class: "painting", src: rendition, alt: meta.title || id,
    width: painting.width || undefined, height: painting.height || undefined });
  placeholderOnError(image, "painting missing-image",
    "The image of this painting cannot be shown: its file is missing or unreadable.");
  view.replaceChildren(el("div", { class: "detail" },
    el("div", {}, image, el("h1", { tabindex: "-1" }, meta.title || id), facts,
      el("p", {}, el("a", { href: `/images/${path(id)}` }, "Open the full image"))),
    el("div", {}, el("h2", {}, "Similar paintings"),
      el("div", { class: "controls" },
        el("div", {}, representationLabel, representation), el("div", {}, metricLabel, metric)),
      el("p", { class: "note" }, METRIC_NOTE), similar)));

  async function showSimilar() {
    const asked = { representation: representation.value, metric: metric.value };
    replaceParams(new URLSearchParams(asked));
    const query = new URLSearchParams({ ...asked, k: 12 });
    await area.run(`/similar/${path(id)}?${query}`, {}, (body) => {
      similar.replaceChildren(grid(body.results[0].hits));
      similar.dataset.shown = `${asked.representation}/${asked.metric}`;
      announce(`${body.results[0].hits.length} similar paintings`);
    });
  }
  onSettled(representation, showSimilar);
  onSettled(metric, showSimilar);
  await showSimilar();
  restoreScroll();
}

async function learnOptions() {
  if (options) {
    // Known already: a newer answer replaces it, and no answer does not hold the page up.
    const response = await fetch("/representations", { cache: "no-store" }).catch(() => null);
    if (response && response.ok) options = await response.json();
    return;
  }
  options = await getJson("/representations", { cache: "no-store" },
    (why) => view.replaceChildren(el("p", {}, `${why} (retrying)`)));
}

let navigated = false;

async function route() {
  clearTimeout(rememberScroll.timer);
  drawing = true;
  try {
    await drawView(hashRoute());
  } finally {
    drawing = false;
  }
  // After a navigation, keyboard and screen-reader users start at the new view's heading.
  const heading = view.querySelector("h1");
  if (navigated && heading) {
    if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
  navigated = true;
}

// The skip link moves focus into the content without touching the hash (the hash is the route).
document.addEventListener("click", (event) => {
  const skip = event.target.closest && event.target.closest("a.skip");
  if (!skip) return;
  event.preventDefault();
  view.focus();
});

async function drawView(hash) {
  if (hash === "#/health") {
    setTitle("Ingestion health");
    await healthPage();  // it needs no representations, and says itself when the index is away
    return;
  }
  try {
    await learnOptions();
  } catch (error) {
    view.replaceChildren(el("p", { class: "error" }, String(error.message)));
    return;
  }
  if (hash.startsWith("#/painting/")) {
    await paintingPage(hash.slice("#/painting/".length).split("/").map(decodeURIComponent).join("/"));
  } else {
    await galleryPage();
  }
}

window.addEventListener("hashchange", route);
route();
