"""`imgsim publish` and `imgsim worker` read only the settings each uses."""

from pathlib import Path

import pytest
from imgsim_cli.main import main

# Settings only the worker uses, each set to a value the worker refuses.
WORKER_ONLY = {
    "VECTORIZER_MODEL_PATH": "/no/such/model.keras",
    "VECTORIZER_WEIGHTS": "/no/such/weights.h5",
    "VECTORIZER_BACKBONE": "ResNet50",
    "VECTORIZER_ONNX_TOLERANCE": "0",
    "VECTORIZER_BATCH_SIZE": "0",
}


@pytest.mark.parametrize(("name", "value"), WORKER_ONLY.items())
def test_publish_does_not_read_the_workers_settings(
    name: str,
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Issue 9, defect 8: publishing needs no model, yet a missing model file stopped it (exit 2,
    # the worker's settings error). Now it gets as far as looking at the folder it was given.
    monkeypatch.setenv(name, value)

    assert main(["publish", str(tmp_path / "nowhere")]) == 2

    err = capsys.readouterr().err
    assert "nowhere is not a folder" in err
    assert "settings" not in err


@pytest.mark.parametrize(("name", "value"), WORKER_ONLY.items())
def test_the_worker_refuses_them_before_loading_anything(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, value)

    assert main(["worker"]) == 2

    err = capsys.readouterr().err
    assert "invalid VECTORIZER_* settings" in err
    assert name.removeprefix("VECTORIZER_").lower() in err.lower()
