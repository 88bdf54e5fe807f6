"""`imgsim worker`: loads the model, then runs the faust worker with the vectorize agent."""

import logging
import os
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import start_http_server

from imgsim_vectorizer import metrics
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


def run(settings: VectorizerSettings) -> None:
    import faust

    from imgsim_vectorizer.app import create_app

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
    app = create_app(settings, vectorizer)
    faust.Worker(app, loglevel="INFO").execute_from_commandline()
