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
    if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
    return body;
  }
}

const path = (id) => id.split("/").map(encodeURIComponent).join("/");

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
  const image = el("img", {
    src: `/thumbnails/${path(painting.id)}?size=256`,
    alt: meta.artist ? `${title} by ${meta.artist}` : title,
    loading: "lazy",
  });
  placeholderOnError(image, "missing-image", "No image: its file is missing or unreadable");
  const score = painting.score !== undefined ? ` · ${painting.score.toFixed(3)}` : "";
  return el("a", { class: "tile", href: `#/painting/${path(painting.id)}`, "data-id": painting.id },
    image, el("span", {}, title, el("br"), el("small", {}, (meta.artist || "") + score)));
}

function grid(paintings) {
  return el("div", { class: "grid" }, ...paintings.map(tile));
}

async function galleryPage() {
  const form = el("form", { class: "filters", role: "search" });
  const field = (name, label, type = "text") =>
    el("label", {}, label, el("input", { name, type, "aria-label": label }));
  form.append(field("q", "Title"), field("artist", "Artist"), field("style", "Style"),
    field("genre", "Genre"), field("year_from", "From year", "number"),
    field("year_to", "To year", "number"), el("button", { type: "submit" }, "Filter"),
    el("button", { type: "button", onclick: () => load(true) }, "Surprise me"));
  const results = el("div", { id: "results" });
  const more = el("button", { type: "button", hidden: "" }, "More");
  const drop = uploadZone(results, more);
  view.replaceChildren(drop, form, results, more);
  let cursor = null;

  async function load(random = false, append = false) {
    const mine = ++generation;
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value) params.set(key, value);
    if (append && cursor) params.set("after", cursor);
    try {
      const body = await getJson(`/${random ? "random" : "paintings"}?${params}`);
      if (mine !== generation) return;
      cursor = body.next || null;
      more.hidden = !cursor;
      const tiles = grid(body.paintings);
      if (append) results.querySelector(".grid").append(...tiles.children);
      else results.replaceChildren(tiles);
    } catch (error) {
      if (mine === generation) results.replaceChildren(el("p", { class: "error" }, String(error.message)));
    }
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  more.addEventListener("click", () => load(false, true));
  await load();
}

// The newest request owns the results area: an older answer arriving late is dropped.
let generation = 0;

function uploadZone(results, more) {
  const input = el("input", { type: "file", accept: "image/*", id: "upload", "aria-label": "Image to search with" });
  const zone = el("div", { class: "drop", id: "drop" },
    "Drop an image here to find similar paintings, or ", input);
  const search = async (file) => {
    const mine = ++generation;
    more.hidden = true;
    results.replaceChildren(el("p", {}, `Searching with ${file.name}…`));
    try {
      const query = new URLSearchParams({ representation: options.default, k: 24 });
      const body = await getJson(`/similar/upload?${query}`,
        { method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" } },
        (why) => mine === generation && results.replaceChildren(el("p", {}, `${why} (retrying)`)));
      if (mine === generation) results.replaceChildren(el("h2", {}, `Similar to ${file.name}`), grid(body.results[0].hits));
    } catch (error) {
      if (mine === generation) results.replaceChildren(el("p", { class: "error" }, String(error.message)));
    }
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
    view.replaceChildren(el("p", { class: "error" }, String(error.message)));
    return;
  }
  const meta = painting.metadata || {};
  const facts = el("dl");
  for (const [key, value] of Object.entries(meta)) facts.append(el("dt", {}, key), el("dd", {}, String(value)));
  const select = (name, values) => el("select", { name, id: name, "aria-label": name },
    ...values.map((value) => el("option", { value }, value)));
  const representation = select("representation", options.representations.map((r) => r.name));
  representation.value = options.default;
  const metric = select("metric", options.metrics);
  const similar = el("div", { id: "similar", "aria-busy": "true" });
  const image = el("img", { class: "painting", src: `/images/${path(id)}`, alt: meta.title || id });
  placeholderOnError(image, "painting missing-image",
    "The image of this painting cannot be shown: its file is missing or unreadable.");
  view.replaceChildren(el("div", { class: "detail" },
    el("div", {}, image, el("h1", {}, meta.title || id), facts),
    el("div", {}, el("h2", {}, "Similar paintings"),
      el("div", { class: "controls" }, representation, metric), similar)));

  async function showSimilar() {
    similar.setAttribute("aria-busy", "true");
    const query = new URLSearchParams({ representation: representation.value, metric: metric.value, k: 12 });
    try {
      const body = await getJson(`/similar/${path(id)}?${query}`);
      similar.replaceChildren(grid(body.results[0].hits));
      similar.dataset.shown = `${representation.value}/${metric.value}`;
    } catch (error) {
      similar.replaceChildren(el("p", { class: "error" }, String(error.message)));
    }
    similar.setAttribute("aria-busy", "false");
  }
  representation.addEventListener("change", showSimilar);
  metric.addEventListener("change", showSimilar);
  await showSimilar();
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

async function route() {
  const hash = location.hash || "#/";
  if (hash === "#/health") {
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
