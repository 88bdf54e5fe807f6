"""The vectorizer's settings: environment variables prefixed `VECTORIZER_`.

Each command reads only the settings it uses: `imgsim publish` reads `PublishSettings`, so a
model setting that would stop the worker (a missing `VECTORIZER_MODEL_PATH`) cannot stop it.
"""

from pathlib import Path

from imgsim_common import names
from imgsim_common.access import KafkaAccess
from imgsim_common.model_card import ModelCard
from imgsim_vision.settings import ModelSettings
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PublishSettings(BaseSettings, KafkaAccess):
    """Kafka's address and credentials (`VECTORIZER_KAFKA_*`, imgsim_common.access) and the
    topic of image paths."""

    # hide_input_in_errors: a settings error would otherwise print the values read, secrets too.
    model_config = SettingsConfigDict(
        env_prefix="VECTORIZER_", extra="forbid", hide_input_in_errors=True
    )

    input_topic: str = names.IMAGE_PATHS_TOPIC


class VectorizerSettings(PublishSettings, ModelSettings):
    """The worker's: everything `imgsim publish` reads, and the model (`VECTORIZER_BACKBONE`,
    `_WEIGHTS`, `_MODEL_PATH`, `_BACKEND`, `_ONNX_CACHE_DIR`, `_ONNX_TOLERANCE`)."""

    model_config = SettingsConfigDict(
        env_prefix="VECTORIZER_", extra="forbid", hide_input_in_errors=True
    )

    # Empty: the model's own pipeline (`imgsim_common.names.model_pipeline`): `paintings` and
    # `imgsim-vectorizer` for the backbone alone; `paintings-model-<version>` and
    # `imgsim-vectorizer-<version>` for a trained model, so that two model versions never write
    # to one topic and each re-reads every image path on its own.
    output_topic: str = ""
    dead_letter_topic: str = names.IMAGE_PATHS_DLQ_TOPIC
    consumer_group: str = ""
    # faust's data directory: it holds the worker's folder (`<consumer group>/v1`), which faust
    # would otherwise make in the current directory. Tables are kept in memory, so nothing
    # durable lives there; a fixed folder, not a temporary one, leaves no trail of folders behind
    # crashed workers.
    data_dir: Path = Path.home() / ".cache" / "imgsim" / "faust"

    # Every record's path is relative to this folder, and nothing outside it is ever read.
    image_root: Path = Path("images")
    max_file_bytes: int = Field(200 * 2**20, gt=0)
    # Painter by Numbers holds paintings of ~100 megapixels; anything far above is a bomb.
    max_pixels: int = Field(400_000_000, gt=0)

    batch_size: int = Field(32, ge=1, le=1024)
    batch_timeout_s: float = Field(1.0, gt=0)
    decode_threads: int = Field(2, ge=1, le=64)

    metrics_port: int = Field(9464, ge=0, le=65535)
    web_port: int = Field(6066, ge=1, le=65535)

    def for_model(self, card: ModelCard) -> "VectorizerSettings":
        """These settings with the topic and group of the loaded model's pipeline filled in."""
        pipeline = names.model_pipeline(card.pipeline_version)
        return self.model_copy(
            update={
                "output_topic": self.output_topic or pipeline.topic,
                "consumer_group": self.consumer_group or pipeline.consumer_group,
            }
        )
