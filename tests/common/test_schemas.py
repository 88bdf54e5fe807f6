"""The schema files in the repository are what the models generate, and real records pass them."""

import json
import runpy
import shutil
from pathlib import Path

import cbor2
import numpy as np
import pytest
from imgsim_common import schemas
from imgsim_common.painting_records import encode_painting
from imgsim_common.records import DeadLetter, ImagePathRecord
from imgsim_common.representations import REPRESENTATIONS
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError


def load(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((schemas.SCHEMA_DIR / name).read_text("utf-8"))
    return loaded


@pytest.mark.parametrize("name", sorted(schemas.schema_files()))
def test_schema_file_matches_the_models(name: str) -> None:
    path = schemas.SCHEMA_DIR / name
    assert path.exists(), f"{name} is missing: run python -m imgsim_common.schemas"
    assert path.read_text("utf-8") == schemas.render(schemas.schema_files()[name]), (
        f"{name} is out of date with the models: run python -m imgsim_common.schemas"
    )
    Draft202012Validator.check_schema(load(name))


def test_every_topic_has_a_key_and_a_value_schema() -> None:
    files = set(schemas.schema_files())
    for topic in ("image-paths", "image-paths-dlq", "paintings", "paintings-dlq"):
        assert f"{topic}.key.json" in files
        assert any(f.startswith(f"{topic}.value") for f in files)


def test_image_path_shapes_against_the_schema() -> None:
    validator = Draft202012Validator(load("image-paths.value.json"))
    validator.validate(ImagePathRecord(id="a.jpg", path="a.jpg").model_dump(mode="json"))
    validator.validate({"path": "a.jpg", "metadata": {"year": 1890}})
    with pytest.raises(ValidationError):
        validator.validate({"id": "a.jpg"})
    with pytest.raises(ValidationError):
        validator.validate({"path": "a.jpg", "colour": "red"})


def test_dead_letters_against_the_schema() -> None:
    letter = DeadLetter(reason="missing", message="no such file", record={"id": "a", "path": "a"})
    Draft202012Validator(load("image-paths-dlq.value.json")).validate(
        letter.model_dump(mode="json")
    )


def _painting_fields() -> dict[str, object]:
    return {
        "id": "a.jpg",
        "path": "a.jpg",
        "sha1": "0" * 40,
        "width": 4,
        "height": 3,
        "model": {"name": "m", "version": "1"},
        "metadata": {},
    }


def test_paintings_values_of_both_versions_against_their_schemas() -> None:
    rng = np.random.default_rng(0)
    vectors = {r.name: rng.standard_normal(r.dims).astype(np.float32) for r in REPRESENTATIONS}
    v1 = {**_painting_fields(), "vectors": {k: v.tolist() for k, v in vectors.items()}}
    Draft202012Validator(load("paintings.value.v1.json")).validate(v1)

    decoded = cbor2.loads(encode_painting(_painting_fields(), vectors))
    v2 = load("paintings.value.v2.json")
    # JSON Schema cannot see inside a CBOR tag: check the rest, and each vector's tag and size.
    tags = decoded["vectors"]
    decoded["vectors"] = {}
    Draft202012Validator({**v2, "properties": {**v2["properties"], "vectors": {}}}).validate(  # type: ignore[dict-item]
        decoded
    )
    described = v2["properties"]["vectors"]["properties"]  # type: ignore[index]
    assert set(tags) == set(described)
    for name, tag in tags.items():
        assert tag.tag == described[name]["x-cbor-tag"] == 85
        assert len(tag.value) == 4 * described[name]["x-dims"]


def test_a_short_v1_vector_fails_its_schema() -> None:
    v1 = {
        **_painting_fields(),
        "vectors": {r.name: [1.0] * (r.dims - (r.name == "mid")) for r in REPRESENTATIONS},
    }
    with pytest.raises(ValidationError):
        Draft202012Validator(load("paintings.value.v1.json")).validate(v1)


def test_regenerating_writes_every_file_beside_the_module_and_again_over_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A copy of the module: `python -m imgsim_common.schemas` writes beside its own file.
    module = shutil.copy(schemas.__file__, tmp_path / "schemas.py")
    expected = {name: schemas.render(schema) for name, schema in schemas.schema_files().items()}

    for _ in range(2):
        with pytest.raises(SystemExit) as exited:
            runpy.run_path(str(module), run_name="__main__")

        assert exited.value.code == 0
        written = {path.name: path.read_text("utf-8") for path in (tmp_path / "schemas").iterdir()}
        assert written == expected
        printed = capsys.readouterr().out.splitlines()
        assert printed == [str(tmp_path / "schemas" / name) for name in expected]


def test_schema_files_are_utf_8_text_ending_with_a_newline() -> None:
    text = schemas.render({"description": "Caf\u00e9"})

    assert text == '{\n  "description": "Caf\u00e9"\n}\n'
