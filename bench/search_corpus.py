"""The search benchmark's corpus: paintings whose vectors come from the product's own model.

Built once and cached under `.stack/bench-search/` (later runs reuse every step already done):
the sample-set generator paints a training set and a base set, `imgsim train` trains a model on
the training set, and each base painting, decoded as the vectorizer decodes it, is varied
cheaply in numpy (crops, flips, colour shifts, noise) until the corpus holds `count` images,
which the trained model vectorizes through ONNX (the vectorizer's backend). Variations of one
painting are near neighbours of each other, as a real collection's copies, details and
re-photographs are: a harder case for a graph index than distinct paintings.

Run alone to build it: `.venv/bin/python bench/search_corpus.py --count 75000`.
"""

import argparse
import csv
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent / ".stack" / "bench-search"
IMGSIM = Path(sys.executable).parent / "imgsim"
# The trained model's own representations count; `global` is the backbone's, for comparison.
KEPT = ("trained_shared", "trained_style", "global")
BATCH = 64
# Vectors are cached by chunks of this many images: a run cut short resumes.
CHUNK = 2500

Vectors = dict[str, npt.NDArray[np.float32]]


def _run(*args: str) -> None:
    print("  $", " ".join(args), flush=True)
    subprocess.run(args, check=True)


def paint(directory: Path, per_artist: int, seed: int) -> Path:
    csv_path = directory / "all_data_info.csv"
    if not csv_path.exists():
        _run(
            str(IMGSIM),
            "sample-set",
            str(directory),
            "--per-artist",
            str(per_artist),
            "--seed",
            str(seed),
            "--workers",
            "2",
            "--force",
        )
    return csv_path


def train(images: Path) -> Path:
    models = ROOT / "models"
    cards = sorted(models.glob("*/card.json"))
    if not cards:
        _run(
            str(IMGSIM),
            "train",
            "--images",
            str(images),
            "--metadata",
            str(images / "all_data_info.csv"),
            "--out",
            str(models),
            "--no-progress",
        )
        cards = sorted(models.glob("*/card.json"))
    return cards[0].parent


def _files(csv_path: Path) -> list[Path]:
    with csv_path.open(newline="") as f:
        return [csv_path.parent / row["new_filename"] for row in csv.DictReader(f)]


def vary(pixels: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """One variation: a crop of 70-100% scaled back by nearest neighbour, maybe a mirror, a
    per-channel gain and offset, and noise."""
    size = pixels.shape[0]
    side = int(size * rng.uniform(0.7, 1.0))
    top, left = rng.integers(0, size - side + 1, 2)
    grid = (np.arange(size) * side // size).astype(np.intp)
    out = pixels[top + grid][:, left + grid].astype(np.float32)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    out = out * rng.uniform(0.85, 1.15, 3) + rng.uniform(-20, 20, 3)
    out += rng.normal(0, rng.uniform(0, 8), out.shape)
    varied: npt.NDArray[np.uint8] = np.clip(out, 0, 255).astype(np.uint8)
    return varied


def decoded(files: list[Path], size: int) -> npt.NDArray[np.uint8]:
    """The base paintings as the vectorizer decodes them, decoded once and kept."""
    from imgsim_vision.images import decode_image

    path = ROOT / f"decoded-{len(files)}-{size}.npy"
    if not path.exists():
        pixels = np.stack([decode_image(f, size, 2**30, 10**9).pixels for f in files])
        np.save(ROOT / "decoded-partial.npy", pixels)
        (ROOT / "decoded-partial.npy").rename(path)
    bases: npt.NDArray[np.uint8] = np.load(path, mmap_mode="r")
    return bases


def images(
    files: list[Path], bases: npt.NDArray[np.uint8], start: int, stop: int
) -> Iterator[tuple[str, npt.NDArray[np.uint8]]]:
    """Images `start` to `stop` of the corpus: each base painting once, then variations; every
    image from its own seed, so a chunk is the same whichever run makes it."""
    for i in range(start, stop):
        base = i % len(files)
        pixels = np.asarray(bases[base])
        if i >= len(files):
            pixels = vary(pixels, np.random.default_rng((11, i)))
        yield f"corpus/{files[base].stem}-{i // len(files):03d}", pixels


def vectorize(model_dir: Path, files: list[Path], count: int, chunks: Path) -> None:
    """Vectorizes the chunks of CHUNK images not cached yet (a run cut short loses one)."""
    missing = [s for s in range(0, count, CHUNK) if not (chunks / f"{s:06d}.npz").exists()]
    if not missing:
        return
    from imgsim_vision import inference, model

    loaded = model.load("MobileNetV3Large", "random", model_dir)
    backend = inference.make_backend(loaded, "onnx", ROOT / "onnx", 1e-3)
    kept = [r.name for r in loaded.card.representations if r.name in KEPT]
    chunks.mkdir(parents=True, exist_ok=True)
    bases = decoded(files, loaded.input_size)
    started, done = time.perf_counter(), 0
    for start in missing:
        path = chunks / f"{start:06d}.npz"
        ids: list[str] = []
        out: dict[str, list[npt.NDArray[np.float32]]] = {name: [] for name in kept}
        batch: list[npt.NDArray[np.uint8]] = []
        for painting_id, pixels in images(files, bases, start, start + CHUNK):
            ids.append(painting_id)
            batch.append(pixels)
            if len(batch) == BATCH or len(ids) == CHUNK:
                vectors = backend(np.stack(batch))
                for name in kept:
                    out[name].append(vectors[name].astype(np.float32))
                batch.clear()
        arrays: dict[str, Any] = {"ids": np.array(ids)}
        arrays |= {name: np.concatenate(parts) for name, parts in out.items()}
        np.savez(chunks / "partial.npz", **arrays)
        (chunks / "partial.npz").rename(path)
        done += len(ids)
        rate = done / (time.perf_counter() - started)
        print(f"  vectorized {start + len(ids)}/{count} ({rate:.0f}/s)", flush=True)


def corpus(count: int) -> tuple[str, list[str], Vectors]:
    """The model's version, the first `count` ids and their vectors by representation (made
    where missing)."""
    train_set = ROOT / "train"
    paint(train_set, 12, 7)
    model_dir = train(train_set)
    files = _files(paint(ROOT / "base", 60, 11))
    chunks = ROOT / f"vectors-{model_dir.name}"
    vectorize(model_dir, files, count, chunks)
    ids: list[str] = []
    parts: dict[str, list[npt.NDArray[np.float32]]] = {}
    for start in range(0, count, CHUNK):
        with np.load(chunks / f"{start:06d}.npz") as saved:
            ids += [str(i) for i in saved["ids"]]
            for name in saved.files:
                if name != "ids":
                    parts.setdefault(name, []).append(saved[name])
    vectors = {name: np.concatenate(p)[:count] for name, p in parts.items()}
    return model_dir.name, ids[:count], vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=75_000)
    args = parser.parse_args()
    version, ids, vectors = corpus(args.count)
    shapes = ", ".join(f"{n} {v.shape}" for n, v in vectors.items())
    print(f"model {version}: {len(ids)} paintings; {shapes}")


if __name__ == "__main__":
    main()
