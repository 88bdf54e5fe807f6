"""Vectorizer benchmark: the raw model, the worker with the float model and the worker with the
int8 fast path, on 512x384, 1024x768 and large painting-sized JPEGs; the fast path's fidelity;
and JPEG decoding with vs without draft.

Run with `make bench` against a running stack (`make up`). Everything is measured in this one run,
side by side, because the machine is shared and noisy: the ratios are the figures to trust.
`--model DIR` runs a model `imgsim train` saved (the figures that count are a trained model's);
`--sets`, `--backends`, `--images` and `--large-images` make smaller runs.
"""

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from imgsim_cli import child_argv
from imgsim_common.access import KafkaClientConfig, bootstrap_of, librdkafka
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# One of tf2onnx's optional graph passes fails on this network and logs a traceback; the export
# is checked against TensorFlow all the same.
logging.getLogger("tf2onnx").setLevel(logging.ERROR)

BACKENDS = ("onnx", "onnx-int8")
BATCH = 32  # the worker's default VECTORIZER_BATCH_SIZE
SETS = ("512x384", "1024x768", "large")


def load_backend(kind: str, cache: Path, model_path: Path | None) -> tuple[Any, Any]:
    from imgsim_vision import inference, model

    loaded = model.load("MobileNetV3Large", "random", model_path)
    return loaded, inference.make_backend(loaded, kind, cache, 1e-3)


def raw_model(backend: Any, batches: int, batch_size: int, size: int) -> float:
    pixels = np.random.default_rng(0).integers(0, 256, (batch_size, size, size, 3), dtype=np.uint8)
    backend(pixels)  # warm-up
    started = time.perf_counter()
    for _ in range(batches):
        backend(pixels)
    return batches * batch_size / (time.perf_counter() - started)


def paintings(folder: Path, count: int, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    for i in range(count):
        shifted = np.roll(base, i, axis=1)
        image = Image.fromarray(shifted).resize(size, Image.Resampling.BICUBIC)
        image.save(folder / f"painting-{i:05d}.jpg", quality=90)


def large_paintings(folder: Path, count: int) -> float:
    """Painting-sized JPEGs, 2000-4000 px a side, with brushwork-like grain so that each is
    several hundred KB as photographs of paintings are; returns their mean size in KB."""
    rng = np.random.default_rng(2)
    sizes = []
    for i in range(count):
        long_side = int(rng.integers(2000, 4001))
        short_side = long_side * 3 // 4
        width, height = (long_side, short_side) if i % 2 else (short_side, long_side)
        base = rng.integers(0, 256, (height // 64, width // 64, 3), dtype=np.uint8)
        smooth = np.asarray(
            Image.fromarray(base).resize((width, height), Image.Resampling.BILINEAR)
        )
        grain = rng.normal(0, 2, ((height + 1) // 2, (width + 1) // 2, 1)).astype(np.float32)
        grain = np.repeat(np.repeat(grain, 2, axis=0), 2, axis=1)[:height, :width]
        pixels = np.clip(smooth + grain, 0, 255).astype(np.uint8)
        path = folder / f"painting-{i:05d}.jpg"
        Image.fromarray(pixels).save(path, quality=80)
        sizes.append(path.stat().st_size)
    return statistics.mean(sizes) / 1024


def decode_times(folder: Path, draft: bool, size: int = 224, limit: int = 200) -> float:
    from imgsim_vision.images import decode_image, to_rgb

    times = []
    for path in sorted(folder.glob("*.jpg"))[:limit]:
        started = time.perf_counter()
        if draft:
            decode_image(path, size, max_bytes=2**30, max_pixels=10**9)
        else:
            with Image.open(path) as image:
                # The fastest way without draft: Pillow's integer reduce, then bilinear.
                to_rgb(image).resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def fidelity_on_paintings(folder: Path, loaded: Any, fast: Any, reference: Any, count: int) -> Any:
    """The gate's figures measured again on a folder of paintings the fast path never saw
    (e.g. `imgsim sample-set`'s), decoded as ingestion decodes them."""
    from imgsim_vision import fidelity
    from imgsim_vision.images import decode_image
    from imgsim_vision.quantization import vectors_of

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    pixels = np.stack(
        [decode_image(p, loaded.input_size, 2**30, 10**9).pixels for p in files[:count]]
    )
    names = {r.name for r in loaded.card.representations}
    got, want = (
        {k: v for k, v in vectors_of(b, pixels).items() if k in names} for b in (fast, reference)
    )
    return fidelity.measure(got, want)


def pipeline(
    kafka: KafkaClientConfig,
    folder: Path,
    count: int,
    backend_kind: str,
    cache: Path,
    model_path: Path | None,
    kafka_env: Mapping[str, str] | None = None,
) -> tuple[float, float]:
    """Publishes the folder, then lets a worker ingest the backlog. `kafka_env`: the
    `VECTORIZER_KAFKA_*` security settings of a secured cluster, for the publisher and worker.

    Returns the publish rate and the worker's steady rate, from the first vector record out to
    the last (the model's loading, before the first record, is not throughput).
    """
    tag = uuid.uuid4().hex[:8]
    topics = {
        "in": f"bench-image-paths-{tag}",
        "out": f"bench-paintings-{tag}",
        "dlq": f"bench-dlq-{tag}",
    }
    bootstrap = bootstrap_of(kafka)
    admin = AdminClient(librdkafka(kafka))
    for future in admin.create_topics([NewTopic(t, 6, 1) for t in topics.values()]).values():
        future.result()
    env = {
        **os.environ,
        **(kafka_env or {}),
        "VECTORIZER_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "VECTORIZER_INPUT_TOPIC": topics["in"],
        "VECTORIZER_OUTPUT_TOPIC": topics["out"],
        "VECTORIZER_DEAD_LETTER_TOPIC": topics["dlq"],
        "VECTORIZER_CONSUMER_GROUP": f"bench-{tag}",
        "VECTORIZER_IMAGE_ROOT": str(folder),
        "VECTORIZER_WEIGHTS": "random",
        "VECTORIZER_BACKEND": backend_kind,
        "VECTORIZER_ONNX_CACHE_DIR": str(cache),
        "VECTORIZER_METRICS_PORT": "0",
    }
    if model_path is not None:
        env["VECTORIZER_MODEL_PATH"] = str(model_path)
    consumer = Consumer(
        librdkafka(kafka, {"group.id": f"bench-reader-{tag}", "auto.offset.reset": "earliest"})
    )
    consumer.subscribe([topics["out"], topics["dlq"]])
    worker = None
    try:
        started = time.perf_counter()
        subprocess.run(
            child_argv(
                "publish",
                str(folder),
                "--topic",
                topics["in"],
                "--bootstrap-servers",
                bootstrap,
                "--no-progress",
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            env=env,
        )
        published = count / (time.perf_counter() - started)
        worker = subprocess.Popen(
            child_argv("worker"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        first, last = _consume(consumer, count, timeout_s=1200)
        # The first record comes out with its whole batch: between it and the last record the
        # worker vectorized every other batch, count - BATCH images (count - 1 overstated the
        # rate by a batch, twice over on a 64-image set).
        return published, (count - BATCH) / (last - first)
    finally:
        if worker is not None:
            worker.kill()
            worker.wait()
        consumer.close()
        for future in admin.delete_topics(list(topics.values())).values():
            future.result()


def _consume(consumer: Consumer, count: int, timeout_s: float) -> tuple[float, float]:
    """Times of the first and the last of `count` records."""
    seen, first = 0, 0.0
    deadline = time.monotonic() + timeout_s
    while seen < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {seen} of {count} records came out")
        for message in consumer.consume(500, timeout=0.2):
            if message.error() is None:
                seen += 1
                if seen == 1:
                    first = time.perf_counter()
    return first, time.perf_counter()


def _print_fidelity(title: str, report: Any) -> None:
    verdict = "passes" if report.passed else "FAILS"
    print(f"{title} ({report.paintings} paintings): {verdict} the gate")
    for figures in report.representations:
        print(f"  {'ok  ' if figures.passed else 'FAIL'} {figures.describe()}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=960, help="images per set (>= 4 batches)")
    parser.add_argument("--large-images", type=int, default=320, help="images in the large set")
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--model", type=Path, help="a model `imgsim train` saved (its folder)")
    parser.add_argument(
        "--fidelity-set", type=Path, help="paintings to measure fidelity on, e.g. a sample set"
    )
    parser.add_argument("--onnx-cache", type=Path, help="reuse exports (default: a fresh one)")
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="imgsim-bench-"))
    cache = args.onnx_cache or work / "onnx"
    cores = os.cpu_count() or 1
    try:
        folders: dict[str, Path] = {}
        for name in args.sets:
            folders[name] = work / f"set-{name}"
            folders[name].mkdir()
            if name == "large":
                kb = large_paintings(folders[name], args.large_images)
                print(f"large set: {args.large_images} JPEGs, 2000-4000 px, {kb:.0f} KB each")
            else:
                width, height = (int(side) for side in name.split("x"))
                paintings(folders[name], args.images, (width, height))
        if "large" in folders:
            full = decode_times(folders["large"], draft=False, limit=8)
            drafted = decode_times(folders["large"], draft=True, limit=8)
            print(
                f"decode a large JPEG to 224x224: without draft {full * 1000:.1f} ms, "
                f"with draft (the vectorizer's decode_image) {drafted * 1000:.1f} ms, "
                f"{full / drafted:.1f}x faster"
            )
        backends = {kind: load_backend(kind, cache, args.model) for kind in args.backends}
        loaded = next(iter(backends.values()))[0]
        size = loaded.input_size
        print(f"model {loaded.info.name} version {loaded.info.version}; backends in use:", end="")
        print("".join(f" {kind} -> {backend.name}" for kind, (_, backend) in backends.items()))
        batches = max(4, args.images // 64)
        raw = {kind: [raw_model(b, batches, 32, size)] for kind, (_, b) in backends.items()}
        decode = {name: decode_times(folder, draft=True) for name, folder in folders.items()}
        through: dict[tuple[str, str], float] = {}
        for name, folder in folders.items():
            count = args.large_images if name == "large" else args.images
            for kind in args.backends:
                _, rate = pipeline(args.bootstrap_servers, folder, count, kind, cache, args.model)
                through[name, kind] = rate
        for kind, (_, backend) in backends.items():
            raw[kind].append(raw_model(backend, batches, 32, size))
        from imgsim_vision import quantization
        from imgsim_vision.inference import export_onnx

        print(f"raw model (batch 32, pre-decoded {size}x{size}), images/s before / after:")
        for kind, rates in raw.items():
            print(f"  {kind:10s} {rates[0]:7.1f} / {rates[1]:7.1f}")
        print("worker: publish -> Kafka -> decode JPEG -> inference -> topic, images/s")
        for name in folders:
            cells = []
            for kind in args.backends:
                raw_mean = statistics.mean(raw[kind])
                # On a CPU-bound machine decoding takes cores the network would use: the best
                # the worker can keep of the raw model is inference / (inference + decode).
                ceiling = 1 / (1 + decode[name] * raw_mean / cores)
                rate = through[name, kind]
                cells.append(
                    f"{kind} {rate:6.1f} (of raw {rate / raw_mean:.2f}, ceiling {ceiling:.2f}, "
                    f"of ceiling {rate / raw_mean / ceiling:.2f})"
                )
            speedup = ""
            if len(args.backends) == 2:
                speedup = (
                    f"; int8 / float {through[name, 'onnx-int8'] / through[name, 'onnx']:.2f}x"
                )
            print(f"  {name:9s} decode {decode[name] * 1000:5.1f} ms: {'; '.join(cells)}{speedup}")
        if "onnx-int8" in backends:
            report = quantization.cached_report(export_onnx(loaded, cache))
            if report is not None:
                _print_fidelity("fidelity gate at export, int8 vs float, probe paintings", report)
            if args.fidelity_set is not None and "onnx" in backends:
                measured = fidelity_on_paintings(
                    args.fidelity_set, loaded, backends["onnx-int8"][1], backends["onnx"][1], 480
                )
                _print_fidelity(f"int8 vs float on {args.fidelity_set}", measured)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
