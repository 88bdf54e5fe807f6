"""`imgsim worker`: loads the model, then runs the faust worker with the vectorize agent and,
beside it, the embedding endpoint that vectorizes the search API's uploads with the same model."""

import logging
import os
from concurrent.futures import Executor, ThreadPoolExecutor

from prometheus_client import start_http_server
from pydantic import ValidationError

from imgsim_vectorizer import metrics
from imgsim_vectorizer.embedding import Embedder
from imgsim_vectorizer.embedding_server import EmbeddingServer, EmbeddingSettings
from imgsim_vectorizer.settings import VectorizerSettings
from imgsim_vectorizer.vectorizing import Vectorizer

log = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    pass


def build_vectorizer(settings: VectorizerSettings) -> Vectorizer:
    # TensorFlow is imported here, not at module level: `imgsim publish` must start fast.
    from imgsim_vision import inference
    from PIL import Image

    # The service's own limit decides what is a decompression bomb, not Pillow's default.
    Image.MAX_IMAGE_PIXELS = settings.max_pixels
    try:
        loaded, backend = inference.load_model_backend(settings)
    except Exception as e:
        hint = ""
        if settings.weights == "imagenet":
            hint = (
                " (the ImageNet weights are downloaded once into ~/.keras/models; without network"
                " access set VECTORIZER_WEIGHTS to a local weights file)"
            )
        raise ModelLoadError(f"cannot load the {settings.backbone} model: {e}{hint}") from e
    metrics.BACKEND.labels(backend.name, f"{loaded.info.name}@{loaded.info.version}").set(1)
    log.info("model %s version %s on %s", loaded.info.name, loaded.info.version, backend.name)
    return Vectorizer(
        backend,
        loaded.card,
        loaded.input_size,
        settings.image_root,
        settings.max_file_bytes,
        settings.max_pixels,
        ThreadPoolExecutor(settings.decode_threads, thread_name_prefix="decode"),
        settings.decode_threads,
    )


def serve_embeddings(
    vectorizer: Vectorizer, inference_pool: Executor, endpoint: EmbeddingSettings
) -> EmbeddingServer:
    """The embedding endpoint on the worker's model, decode pool and inference thread."""
    embedder = Embedder(
        vectorizer.backend,
        vectorizer.card,
        endpoint.max_bytes,
        vectorizer.max_pixels,
        vectorizer.decode_pool,
        inference_pool,
        endpoint.concurrency,
        endpoint.queue,
    )
    server = EmbeddingServer(
        embedder, vectorizer.backend.name, endpoint.host, endpoint.port, endpoint.token
    )
    server.start()
    log.info("embedding endpoint on %s/embeddings", server.url)
    return server


def start_embedding_service(
    settings: VectorizerSettings, endpoint: EmbeddingSettings
) -> EmbeddingServer:
    """The embedding endpoint alone (no Kafka): loads the model, then serves it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    vectorizer = build_vectorizer(settings)
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    return serve_embeddings(
        vectorizer, ThreadPoolExecutor(1, thread_name_prefix="inference"), endpoint
    )


def run(settings: VectorizerSettings) -> None:
    import faust

    from imgsim_vectorizer.app import create_app

    try:
        endpoint = EmbeddingSettings()
    except ValidationError as e:
        raise ModelLoadError(f"invalid VECTORIZER_EMBEDDING_* settings:\n{e}") from e
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    vectorizer = build_vectorizer(settings)
    settings = settings.for_model(vectorizer.card)
    log.info(
        "model %s writes to %s as consumer group %s",
        vectorizer.model.version,
        settings.output_topic,
        settings.consumer_group,
    )
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    # One inference thread for the batches and the uploads: the network never runs twice at once.
    inference_pool = ThreadPoolExecutor(1, thread_name_prefix="inference")
    if endpoint.port:
        try:
            serve_embeddings(vectorizer, inference_pool, endpoint)
        except OSError as e:
            # Ingestion is the worker's first job: it goes on, and upload search says it cannot
            # reach a vectorizer.
            log.error(
                "no embedding endpoint on %s:%s (%s); ingesting without it",
                endpoint.host,
                endpoint.port,
                e,
            )
    app = create_app(settings, vectorizer, inference_pool)
    faust.Worker(app, loglevel="INFO").execute_from_commandline()
