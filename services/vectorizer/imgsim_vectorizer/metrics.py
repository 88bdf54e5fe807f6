"""The vectorizer's Prometheus metrics."""

from prometheus_client import Counter, Gauge, Histogram

IMAGES = Counter(
    "imgsim_vectorizer_images_total",
    "Inputs handled, by outcome (vectorized or dead-lettered).",
    ["outcome"],
)
FAILURES = Counter(
    "imgsim_vectorizer_failures_total",
    "Inputs sent to the dead-letter topic, by reason.",
    ["reason"],
)
BATCH_SIZE = Histogram(
    "imgsim_vectorizer_batch_size",
    "Images per batch.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
STAGE_SECONDS = Histogram(
    "imgsim_vectorizer_batch_stage_seconds",
    "Time a batch spends in each stage: decode, inference, produce, and all of them.",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DECODE_SECONDS = Histogram(
    "imgsim_vectorizer_decode_seconds",
    "Time to read and decode one image.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
THROUGHPUT = Gauge(
    "imgsim_vectorizer_images_per_second", "Images per second over the last completed batch."
)
CONSUMER_LAG = Gauge(
    "imgsim_vectorizer_consumer_lag",
    "Messages on the image-path topic not yet consumed, by partition.",
    ["partition"],
)
BACKEND = Gauge(
    "imgsim_vectorizer_backend_info",
    "The inference backend and model in use.",
    ["backend", "model"],
)
