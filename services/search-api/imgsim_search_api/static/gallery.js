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
  // A 503 or 429 with Retry-After (Elasticsearch away, the model still loading, too many uploads
  // at once) is waited out.
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(url, init);
    const body = await response.json().catch(() => ({}));
    const retryAfter = Number(response.headers.get("Retry-After"));
    if ((response.status === 503 || response.status === 429) && retryAfter > 0 && attempt < 40) {
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

// The first screen's worth of tiles load at once; lazy loading waits for layout, which put about
// 0.1 s before the first painting (bench/gallery_timing_bench.py).
const EAGER_TILES = 12;

function tile(painting, index) {
  const meta = painting.metadata || {};
  const title = meta.title || painting.id;
  const thumbnail = (size) => `/thumbnails/${path(painting.id)}?size=${size}`;
  // Thumbnails for the screen's pixel density: a phone's 2x or 3x screen gets the larger one.
  const image = el("img", {
    src: thumbnail(256),
    srcset: `${thumbnail(256)} 1x, ${thumbnail(512)} 2x`,
    alt: meta.artist ? `${title} by ${meta.artist}` : title,
    loading: index < EAGER_TILES ? "eager" : "lazy",
  });
  placeholderOnError(image, "missing-image", "No image: its file is missing or unreadable");
  // No score on the tile: the order already says which is closer, and a bare 0.983 says no more.
  // Each painting keeps its shape: the tile's width follows the stored width and height, so a row
  // of tiles is justified and nothing moves when the images arrive.
  const ratio = painting.width > 0 && painting.height > 0
    ? Math.min(2.5, Math.max(0.4, painting.width / painting.height)) : 1;
  const link = el("a", { class: "tile", href: `#/painting/${path(painting.id)}`, "data-id": painting.id },
    image, el("span", {}, title, el("br"), el("small", {}, meta.artist || "")));
  // Through the CSSOM, not a style attribute: the Content-Security-Policy allows no inline style.
  link.style.setProperty("--ratio", ratio.toFixed(3));
  return link;
}

function grid(paintings) {
  return el("div", { class: "grid" }, ...paintings.map((painting, index) => tile(painting, index)));
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
  const state = hashParams();
  const names = options.representations.map((r) => r.name);
  const [representation, representationLabel] = labelled("representation", "Similar by",
    options.representations.map((r) => [r.name, `${plainName(r)} (${r.name})`]));
  representation.value = names.includes(state.get("representation")) ? state.get("representation") : options.default;
  const [metric, metricLabel] = labelled("metric", "Measured as",
    options.metrics.map((m) => [m, METRICS[m] || m]));
  if (options.metrics.includes(state.get("metric"))) metric.value = state.get("metric");
  const similar = el("div", { id: "similar", "aria-busy": "true" });
  const area = new SearchArea(similar);
  const narrowing = narrowingControls(meta, state);
  const mixing = mixControls(id, meta, state, names);
  // Closed unless the URL sets one of its options: on a phone the similar paintings stay on the
  // first screen.
  const more = el("details", { class: "options", id: "options" },
    el("summary", {}, "Mix with a painting, or narrow"),
    narrowing.node, mixing.node);
  if (OPTION_KEYS.some((key) => state.has(key))) more.open = true;
  const mixNote = el("p", { class: "note", id: "mix-note", hidden: "" });
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
      el("p", { class: "note" }, METRIC_NOTE), more, mixNote, similar)));

  // What is shown, as the URL records it: only what differs from a plain similar search.
  function asked() {
    const params = new URLSearchParams({ representation: representation.value, metric: metric.value });
    for (const [key, value] of narrowing.params()) params.set(key, value);
    for (const [key, value] of mixing.params()) params.set(key, value);
    return params;
  }

  async function showSimilar() {
    const params = asked();
    replaceParams(params);
    const shown = mixing.active()
      ? `${representation.value}/${metric.value}+${mixing.describe()}` : `${representation.value}/${metric.value}`;
    const { url, init } = mixing.active()
      ? mixing.request(representation.value, metric.value, narrowing.body())
      : { url: `/similar/${path(id)}?${new URLSearchParams({ representation: representation.value,
        metric: metric.value, k: 12, ...narrowing.query() })}`, init: {} };
    await area.run(url, init, (body) => {
      const hits = body.results[0].hits;
      const other = mixing.active() && body.paintings ? body.paintings[mixing.other()] : null;
      if (other) mixing.named(other.metadata || {});
      mixNote.hidden = !mixing.active();
      mixNote.textContent = mixing.active() ? `Mixing ${mixing.sentence(representation.value)}.` : "";
      similar.replaceChildren(hits.length ? grid(hits)
        : el("p", { class: "empty" }, "No similar paintings with these options."));
      similar.dataset.shown = shown;
      similar.dataset.asked = params.toString();
      announce(mixing.active()
        ? `${hits.length} paintings mixing ${meta.title || id} and ${mixing.title()}`
        : `${hits.length} similar paintings`);
    });
  }
  onSettled(representation, showSimilar);
  onSettled(metric, showSimilar);
  narrowing.onChange(showSimilar);
  mixing.onChange(showSimilar);
  mixing.suggest(`/similar/${path(id)}?${new URLSearchParams({ representation: options.default, k: 12 })}`);
  await showSimilar();
  restoreScroll();
}

// The options of a painting's page that a plain similar search and a mix share, in the URL as
// `exclude_artist=1`, `same_style=1`, `per_artist=2`, `mix=<id>&mixby=global&w=0.6`.
const OPTION_KEYS = ["exclude_artist", "same_style", "per_artist", "mix", "mixby", "w"];
const PER_ARTIST = [["", "Any number"], ["1", "At most 1"], ["2", "At most 2"], ["3", "At most 3"]];

function labelled(name, label, choices) {
  const node = el("select", { name, id: name }, ...choices.map(([value, text]) => el("option", { value }, text)));
  return [node, el("label", { for: name }, label)];
}

function checkbox(id, text, on) {
  const input = el("input", { type: "checkbox", id });
  input.checked = on;
  return [input, el("label", { class: "check", for: id }, text)];
}

// "Leave out this artist", "only this style" and "at most N per artist": the API's own filters.
function narrowingControls(meta, state) {
  const [excludeArtist, excludeLabel] = checkbox("exclude-artist",
    meta.artist ? `Leave out ${meta.artist}` : "Leave out this artist", state.get("exclude_artist") === "1");
  const [sameStyle, sameLabel] = checkbox("same-style",
    meta.style ? `Only ${meta.style}` : "Only this style", state.get("same_style") === "1");
  const [perArtist, perArtistLabel] = labelled("per_artist", "Paintings per artist", PER_ARTIST);
  if (PER_ARTIST.some(([value]) => value && value === state.get("per_artist"))) perArtist.value = state.get("per_artist");
  // A painting without an artist or a style has nothing to leave out or keep.
  const node = el("fieldset", { class: "narrow" }, el("legend", {}, "Narrow the results"),
    ...(meta.artist ? [el("div", { class: "check-row" }, excludeArtist, excludeLabel)] : []),
    ...(meta.style ? [el("div", { class: "check-row" }, sameStyle, sameLabel)] : []),
    el("div", {}, perArtistLabel, perArtist));
  return {
    node,
    params() {
      const params = new URLSearchParams();
      if (meta.artist && excludeArtist.checked) params.set("exclude_artist", "1");
      if (meta.style && sameStyle.checked) params.set("same_style", "1");
      if (perArtist.value) params.set("per_artist", perArtist.value);
      return params;
    },
    query() {
      const query = {};
      if (meta.artist && excludeArtist.checked) query.exclude_artist = "true";
      if (meta.style && sameStyle.checked) query.same_style = "true";
      if (perArtist.value) query.per_artist = perArtist.value;
      return query;
    },
    body() {
      return { exclude_artist: Boolean(meta.artist && excludeArtist.checked),
        same_style: Boolean(meta.style && sameStyle.checked),
        per_artist: perArtist.value ? Number(perArtist.value) : null };
    },
    onChange(act) {
      excludeArtist.addEventListener("change", act);
      sameStyle.addEventListener("change", act);
      onSettled(perArtist, act);
    },
  };
}

// "Mix with...": a second painting, what to take from it, and a slider between the two; searched
// as one blend (POST /similar/blend), this painting weighing 1 - w and the other w.
function mixControls(id, meta, state, names) {
  const [mix, mixLabel] = labelled("mix", "Mix with", [["", "Nothing: this painting alone"]]);
  const [mixBy, mixByLabel] = labelled("mixby", "Taking from it",
    options.representations.map((r) => [r.name, `${plainName(r)} (${r.name})`]));
  mixBy.value = names.includes(state.get("mixby")) ? state.get("mixby") : options.default;
  const weight = el("input", { type: "range", id: "mix-weight", min: "0", max: "1", step: "0.1" });
  const w = Number(state.get("w"));
  weight.value = state.has("w") && w >= 0 && w <= 1 ? String(w) : "0.5";
  const balance = el("span", { id: "mix-balance", "aria-hidden": "true" });
  const other = el("input", { id: "mix-other", type: "text", autocomplete: "off", spellcheck: "false" });
  const otherForm = el("form", { class: "mix-other" },
    el("div", {}, el("label", { for: "mix-other" }, "Or a painting's id"), other),
    el("button", { type: "submit" }, "Mix"));
  const titles = new Map();
  const choose = (value, text) => {
    let option = [...mix.options].find((o) => o.value === value);
    if (!option) mix.append(option = el("option", { value }, text || value));
    else if (text) option.textContent = text;
    return option;
  };
  if (state.get("mix") && state.get("mix") !== id) {
    choose(state.get("mix"));
    mix.value = state.get("mix");
  }
  const title = () => titles.get(mix.value) || mix.value;
  const percent = (share) => `${Math.round(share * 100)}%`;
  function update() {
    const on = Boolean(mix.value);
    weight.disabled = !on;
    mixBy.disabled = !on;
    const share = Number(weight.value);
    const text = on ? `${percent(1 - share)} this painting, ${percent(share)} ${title()}` : "this painting alone";
    balance.textContent = text;
    weight.setAttribute("aria-valuetext", text);
  }
  update();
  const node = el("fieldset", { class: "mix" }, el("legend", {}, "Mix with another painting"),
    el("div", { class: "row" }, el("div", {}, mixLabel, mix), el("div", {}, mixByLabel, mixBy)),
    el("div", { class: "balance" }, el("label", { for: "mix-weight" }, "Balance"),
      el("div", { class: "slider" }, el("span", {}, "This painting"), weight, el("span", {}, "The other")),
      balance),
    otherForm);
  return {
    node,
    active: () => Boolean(mix.value),
    other: () => mix.value,
    title,
    describe: () => `${mix.value}/${mixBy.value}@${weight.value}`,
    sentence: (representation) => {
      const by = (name) => plainName(options.representations.find((r) => r.name === name) || { name }).toLowerCase();
      return `${percent(1 - Number(weight.value))} ${by(representation)} of this painting with ` +
        `${percent(Number(weight.value))} ${by(mixBy.value)} of ${title()}`;
    },
    named(metadata) {
      if (metadata.title) {
        titles.set(mix.value, metadata.title);
        choose(mix.value, metadata.artist ? `${metadata.title} by ${metadata.artist}` : metadata.title);
      }
      update();
    },
    params() {
      const params = new URLSearchParams();
      if (mix.value) {
        params.set("mix", mix.value);
        params.set("mixby", mixBy.value);
        params.set("w", weight.value);
      }
      return params;
    },
    request(representation, metric, narrowing) {
      const share = Number(weight.value);
      const body = {
        clauses: [
          { painting: id, representation, weight: 1 - share },
          { painting: mix.value, representation: mixBy.value, weight: share },
        ],
        metric, k: 12, ...narrowing,
      };
      return { url: "/similar/blend",
        init: { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) } };
    },
    // The paintings offered to mix with: this one's nearest (asked once, beside the results).
    async suggest(url) {
      const body = await getJson(url).catch(() => null);
      for (const hit of body ? body.results[0].hits : []) {
        const m = hit.metadata || {};
        titles.set(hit.id, m.title || hit.id);
        choose(hit.id, m.artist ? `${m.title || hit.id} by ${m.artist}` : m.title || hit.id);
      }
      update();
    },
    onChange(act) {
      // The slider searches once it rests, as a select moved with the arrow keys does.
      let timer = null;
      const settle = () => { update(); clearTimeout(timer); timer = setTimeout(act, SETTLE_MS); };
      weight.addEventListener("input", settle);
      weight.addEventListener("change", settle);
      onSettled(mix, () => { update(); act(); });
      onSettled(mixBy, act);
      otherForm.addEventListener("submit", (event) => {
        event.preventDefault();
        const wanted = other.value.trim();
        if (!wanted || wanted === id) return;
        choose(wanted);
        mix.value = wanted;
        other.value = "";
        update();
        act();
      });
    },
  };
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
