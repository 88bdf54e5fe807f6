"""The vectorizer's settings: environment variables prefixed `VECTORIZER_`."""

from pathlib import Path
from typing import Literal

from imgsim_common import names
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The backbones `model.BACKBONES` defines (a test keeps the two equal) and the inference
# backends; the search API's upload search takes the same choices.
Backbone = Literal["MobileNetV3Large", "Xception"]
BackendKind = Literal["tensorflow", "onnx"]


class VectorizerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VECTORIZER_", extra="forbid")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    input_topic: str = names.IMAGE_PATHS_TOPIC
    output_topic: str = names.PAINTINGS_TOPIC
    dead_letter_topic: str = names.IMAGE_PATHS_DLQ_TOPIC
    consumer_group: str = "imgsim-vectorizer"

    # Every record's path is relative to this folder, and nothing outside it is ever read.
    image_root: Path = Path("images")
    max_file_bytes: int = Field(200 * 2**20, gt=0)
    # Painter by Numbers holds paintings of ~100 megapixels; anything far above is a bomb.
    max_pixels: int = Field(400_000_000, gt=0)

    batch_size: int = Field(32, ge=1, le=1024)
    batch_timeout_s: float = Field(1.0, gt=0)
    decode_threads: int = Field(2, ge=1, le=64)

    backbone: Backbone = "MobileNetV3Large"
    # "imagenet" (downloaded once and cached by Keras), a local weights file, or "random"
    # (untrained: only for tests and benchmarks).
    weights: str = "imagenet"
    # A fine-tuned genre/style model saved by the training command; replaces `backbone`.
    model_path: Path | None = None
    backend: BackendKind = "onnx"
    onnx_cache_dir: Path = Path.home() / ".cache" / "imgsim" / "onnx"
    # Largest difference allowed between the ONNX export's and TensorFlow's outputs.
    onnx_tolerance: float = Field(1e-3, gt=0)

    metrics_port: int = Field(9464, ge=0, le=65535)
    web_port: int = Field(6066, ge=1, le=65535)

    @model_validator(mode="after")
    def _weights_exist(self) -> "VectorizerSettings":
        if self.weights not in ("imagenet", "random") and not Path(self.weights).is_file():
            raise ValueError(
                f"VECTORIZER_WEIGHTS={self.weights!r} is neither 'imagenet', 'random' nor a file"
            )
        if self.model_path is not None and not self.model_path.is_file():
            raise ValueError(f"VECTORIZER_MODEL_PATH={self.model_path} does not exist")
        return self
