"""The model's settings, one rule for every process that runs it.

The vectorizer's worker and the search API's upload search embed `ModelSettings`, each under the
environment names it has always read (`VECTORIZER_BACKBONE`, `SEARCH_API_MODEL_BACKBONE`, ...), so
the choices, the defaults and the checks are written once. Only what runs the model reads them:
`imgsim publish` does not, and a wrong model setting cannot stop it.
"""

from pathlib import Path
from typing import Literal

from imgsim_common.model_card import CARD_FILE, MODEL_FILE
from pydantic import BaseModel, Field, model_validator

# The backbones `model.BACKBONES` defines (a test keeps the two equal) and the inference backends.
Backbone = Literal["MobileNetV3Large", "Xception"]
# "onnx-int8": the ONNX export quantized to int8, used only when it passes the fidelity gate
# (`imgsim_vision.quantization`), else the float export runs.
BackendKind = Literal["tensorflow", "onnx", "onnx-int8"]

KERAS_WEIGHTS = ("imagenet", "random")


class ModelSettings(BaseModel):
    backbone: Backbone = "MobileNetV3Large"
    # "imagenet" (downloaded once and cached by Keras), a local weights file, or "random"
    # (untrained: only for tests and benchmarks).
    weights: str = "imagenet"
    # A model `imgsim train` saved: its folder (or the card.json or model.keras in it). Its card
    # names the backbone and the weights, so `backbone` and `weights` are then not read.
    model_path: Path | None = None
    backend: BackendKind = "onnx"
    onnx_cache_dir: Path = Path.home() / ".cache" / "imgsim" / "onnx"
    # Largest difference allowed between the ONNX export's and TensorFlow's outputs, relative to
    # the outputs' scale; above it the export is refused and TensorFlow runs instead.
    onnx_tolerance: float = Field(1e-3, gt=0)

    @model_validator(mode="after")
    def _files_exist(self) -> "ModelSettings":
        if self.weights not in KERAS_WEIGHTS and not Path(self.weights).is_file():
            raise ValueError(
                f"{self.setting_name('weights')}={self.weights!r} is neither "
                f"{' nor '.join(map(repr, KERAS_WEIGHTS))} nor a file"
            )
        if self.model_path is not None:
            try:
                model_files(self.model_path)
            except FileNotFoundError as e:
                raise ValueError(f"{self.setting_name('model_path')}={e}") from e
        return self

    @classmethod
    def setting_name(cls, field: str) -> str:
        """The environment variable a field is read from, for errors a person can act on."""
        alias = cls.model_fields[field].validation_alias
        if isinstance(alias, str):  # pydantic-settings ignores the prefix for an alias
            return alias.upper()
        prefix = str(cls.model_config.get("env_prefix", ""))
        return f"{prefix}{field}".upper()


def model_files(path: Path) -> tuple[Path, Path]:
    """The model file and the card of a saved model, from its folder or either file in it."""
    folder = path if path.is_dir() else path.parent
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if not path.is_dir() and path.name not in (CARD_FILE, MODEL_FILE):
        raise FileNotFoundError(
            f"{path} is neither a model folder nor the {CARD_FILE} or {MODEL_FILE} in one"
        )
    missing = [name for name in (MODEL_FILE, CARD_FILE) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} does not hold a saved model: {' and '.join(missing)} missing "
            "(`imgsim train` writes both)"
        )
    return folder / MODEL_FILE, folder / CARD_FILE
