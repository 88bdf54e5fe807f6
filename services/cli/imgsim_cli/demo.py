"""`imgsim demo`: the whole pipeline on a generated set of paintings, then a similarity search.

Paints a small collection (six "artists", each with a palette and a motif), starts a vectorizer
worker, publishes the folder, waits until Kafka Connect has indexed every painting, and shows the
paintings most similar to one of them by every representation and metric.
"""

import csv
import os
import subprocess
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from elasticsearch import Elasticsearch
from imgsim_common import names, similar
from imgsim_common.doc_values import hit_vectors, vector_lookup
from imgsim_common.representations import METRICS, REPRESENTATIONS, Metric, vector_field
from PIL import Image, ImageDraw
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from imgsim_cli import child_argv

SOURCE = "imgsim-demo"
console = Console(highlight=False)


@dataclass(frozen=True)
class Artist:
    name: str
    style: str
    palette: tuple[tuple[int, int, int], ...]
    motif: str


ARTISTS = (
    Artist(
        "Stripe Master", "Minimalism", ((200, 30, 40), (240, 220, 200), (20, 20, 60)), "stripes"
    ),
    Artist(
        "Circle Painter", "Orphism", ((30, 90, 200), (250, 200, 40), (240, 240, 240)), "circles"
    ),
    Artist("Dusk Studio", "Color Field", ((250, 120, 40), (120, 20, 90), (20, 10, 40)), "gradient"),
    Artist("Grid Atelier", "De Stijl", ((230, 30, 30), (30, 60, 200), (250, 220, 0)), "grid"),
    Artist("Wave School", "Op Art", ((10, 10, 10), (245, 245, 245), (90, 90, 90)), "waves"),
    Artist("Forest Brush", "Impressionism", ((40, 110, 50), (150, 190, 90), (90, 60, 30)), "dabs"),
)


def paint(artist: Artist, variant: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    rng = np.random.default_rng(zlib.crc32(f"{artist.name}/{variant}".encode()))
    image = Image.new("RGB", size, artist.palette[1])
    draw = ImageDraw.Draw(image)
    width, height = size
    a, b, c = artist.palette
    if artist.motif == "stripes":
        step = 20 + 6 * variant
        for x in range(0, width, step):
            draw.rectangle([x, 0, x + step // 2, height], fill=a if (x // step) % 2 else c)
    elif artist.motif == "circles":
        for _ in range(6 + variant):
            cx, cy, r = (
                int(v)
                for v in (rng.integers(0, width), rng.integers(0, height), rng.integers(20, 90))
            )
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=a if rng.random() < 0.5 else b)
    elif artist.motif == "gradient":
        t = np.linspace(0, 1, height)[:, None, None] ** (0.5 + variant / 10)
        pixels = (1 - t) * np.array(a) + t * np.array(c)
        image = Image.fromarray(np.repeat(pixels, width, axis=1).astype(np.uint8))
    elif artist.motif == "grid":
        cells = 3 + variant % 4
        for i in range(cells):
            for j in range(cells):
                colour = artist.palette[int(rng.integers(0, 3))]
                box = [i * width // cells, j * height // cells]
                draw.rectangle(
                    [*box, box[0] + width // cells - 6, box[1] + height // cells - 6], fill=colour
                )
    elif artist.motif == "waves":
        rows, cols = np.mgrid[0:height, 0:width]
        wave = np.sin(cols / (8 + variant) + 3 * np.sin(rows / 40)) > 0
        image = Image.fromarray(
            np.where(wave[..., None], np.array(a), np.array(b)).astype(np.uint8)
        )
    else:
        for _ in range(400 + 40 * variant):
            left, top = int(rng.integers(0, width)), int(rng.integers(0, height))
            right, bottom = left + int(rng.integers(6, 18)), top + int(rng.integers(4, 10))
            colour = artist.palette[int(rng.integers(0, 3))]
            draw.ellipse([left, top, right, bottom], fill=colour)
    return image


def painting_name(artist: Artist, variant: int) -> str:
    return f"{artist.motif}-{variant:02d}.jpg"


def paint_collection(folder: Path, per_artist: int) -> tuple[Path, int]:
    folder.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "all_data_info.csv"
    with csv_path.open("w", newline="") as out:
        rows = csv.writer(out)
        rows.writerow(["artist", "title", "style", "genre", "date", "source", "new_filename"])
        for artist in ARTISTS:
            for variant in range(per_artist):
                name = painting_name(artist, variant)
                paint(artist, variant).save(folder / name, quality=90)
                title = f"{artist.motif.title()} No. {variant + 1}"
                year = 1900 + 10 * ARTISTS.index(artist) + variant
                rows.writerow([artist.name, title, artist.style, "abstract", year, SOURCE, name])
    return csv_path, len(ARTISTS) * per_artist


def _versions(es: Elasticsearch, ids: list[str]) -> dict[str, int]:
    found = es.mget(index=names.PAINTINGS_ALIAS, ids=ids, source=False)["docs"]
    return {doc["_id"]: int(doc.get("_version", 0)) if doc.get("found") else 0 for doc in found}


def run(folder: Path, elasticsearch_url: str, per_artist: int, timeout_s: float) -> int:
    console.print(f"painting {len(ARTISTS) * per_artist} pictures into {folder}")
    csv_path, total = paint_collection(folder, per_artist)
    ids = [painting_name(a, v) for a in ARTISTS for v in range(per_artist)]
    env = {
        **os.environ,
        "VECTORIZER_IMAGE_ROOT": str(folder),
        "VECTORIZER_CONSUMER_GROUP": os.environ.get("VECTORIZER_CONSUMER_GROUP", SOURCE),
        "VECTORIZER_METRICS_PORT": os.environ.get("VECTORIZER_METRICS_PORT", "0"),
    }
    metrics: tuple[Metric, ...] = METRICS
    if "VECTORIZER_WEIGHTS" not in os.environ:
        # No download is assumed: untrained weights still group colour and texture by cosine,
        # but their activations fade to ~1e-9 through the network, too small for L2 to rank.
        env["VECTORIZER_WEIGHTS"] = "random"
        metrics = (Metric.COSINE,)
        console.print(
            "VECTORIZER_WEIGHTS is not set: untrained weights, so only cosine similarity is shown "
            "(set VECTORIZER_WEIGHTS=imagenet or a weights file for L2 too)"
        )
    log = folder / "worker.log"
    with log.open("ab") as out:
        worker = subprocess.Popen(
            child_argv("worker"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    es = Elasticsearch(elasticsearch_url, request_timeout=30)
    try:
        # A painting counts as done when its document is newer than before this run.
        before = _versions(es, ids)
        published = subprocess.run(
            child_argv("publish", str(folder), "--metadata", str(csv_path), "--no-progress"),
            env=env,
            check=False,
        )
        if published.returncode != 0:
            return published.returncode
        with Progress(console=console) as progress:
            task = progress.add_task("vectorizing and indexing", total=total)
            deadline = time.monotonic() + timeout_s
            while (done := sum(v > before[i] for i, v in _versions(es, ids).items())) < total:
                progress.update(task, completed=done)
                if worker.poll() is not None or time.monotonic() > deadline:
                    console.print(f"the worker stopped or took too long; read {log}")
                    return 1
                time.sleep(1)
            progress.update(task, completed=total)
        show_similar(es, painting_name(ARTISTS[0], 0), metrics)
        return 0
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        es.close()


def similar_paintings(
    es: Elasticsearch, painting_id: str, metrics: tuple[Metric, ...], k: int = 5
) -> dict[tuple[str, Metric], list[Mapping[str, Any]]]:
    """The demo paintings nearest to `painting_id`, by representation and metric: its hits."""
    fields = [vector_field(r.name, m) for r in REPRESENTATIONS for m in metrics]
    es.indices.refresh(index=names.PAINTINGS_ALIAS)  # a search sees only refreshed documents
    found = es.search(index=names.PAINTINGS_ALIAS, body=vector_lookup(painting_id, fields))
    vectors = hit_vectors(found["hits"]["hits"][0])
    demo_only = similar.metadata_filter(equal={"source": SOURCE})
    nearest: dict[tuple[str, Metric], list[Mapping[str, Any]]] = {}
    for representation in REPRESENTATIONS:
        for metric in metrics:
            body = similar.knn_body(
                representation,
                metric,
                vectors[vector_field(representation.name, metric)],
                k,
                leave_out=[painting_id],
                filter=demo_only,
                source=["metadata.artist", "metadata.title"],
            )
            response = es.search(index=names.PAINTINGS_ALIAS, body=body)
            hits = response["hits"]["hits"]
            nearest[representation.name, metric] = similar.neighbours(hits, [painting_id], k)
    return nearest


def show_similar(
    es: Elasticsearch, painting_id: str, metrics: tuple[Metric, ...], k: int = 5
) -> None:
    query = es.get(index=names.PAINTINGS_ALIAS, id=painting_id)["_source"]
    nearest = similar_paintings(es, painting_id, metrics, k)
    console.print(
        f"\nmost similar to {painting_id} ({query['metadata']['title']}, "
        f"{query['metadata']['artist']}):"
    )
    table = Table("representation", "metric", *(f"#{i + 1}" for i in range(k)))
    for (representation, metric), hits in nearest.items():
        table.add_row(
            representation,
            metric.value,
            *(f"{hit['_source']['metadata']['title']}" for hit in hits),
        )
    console.print(table)
