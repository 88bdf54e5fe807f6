"""No service imports another: they meet on topics and HTTP, and share only imgsim_common and
the vision library. And each package's extra installs what it imports.

Read from the source with `ast`, never by importing it, so a test run needs none of the services'
dependencies and sees imports a code path reaches only at run time (inside functions, under
TYPE_CHECKING, through importlib).
"""

import ast
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from imgsim_stack.settings import REPO_ROOT
from packaging.requirements import Requirement

SERVICES = REPO_ROOT / "services"

PACKAGES: Mapping[str, Path] = {
    "imgsim_common": SERVICES / "common" / "imgsim_common",
    "imgsim_vision": SERVICES / "vision" / "imgsim_vision",
    "imgsim_vectorizer": SERVICES / "vectorizer" / "imgsim_vectorizer",
    "imgsim_search_api": SERVICES / "search-api" / "imgsim_search_api",
    "imgsim_indexer_check": SERVICES / "indexer-check" / "imgsim_indexer_check",
}
SERVICE_PACKAGES = frozenset({"imgsim_vectorizer", "imgsim_search_api", "imgsim_indexer_check"})
# The product's command line and the stack launcher import services, never the reverse.
PRODUCT_PACKAGES = frozenset({"imgsim_cli", "imgsim_stack"})
HEAVY_LIBRARIES = frozenset(
    {"tensorflow", "keras", "cv2", "faust", "starlette", "onnxruntime", "onnx", "tf2onnx"}
)

# What the search API must never import: uploads are vectorized by the vectorizer over HTTP, so
# the API holds no model, no decoding of its own and no stream library.
MODEL_LIBRARIES = frozenset({"tensorflow", "keras", "cv2", "onnxruntime", "onnx", "tf2onnx"})

FORBIDDEN: Mapping[str, frozenset[str]] = {
    "imgsim_search_api": SERVICE_PACKAGES - {"imgsim_search_api"}
    | PRODUCT_PACKAGES
    | {"imgsim_vision", "faust"}
    | MODEL_LIBRARIES,
    "imgsim_vectorizer": SERVICE_PACKAGES - {"imgsim_vectorizer"} | PRODUCT_PACKAGES,
    "imgsim_indexer_check": (SERVICE_PACKAGES - {"imgsim_indexer_check"})
    | PRODUCT_PACKAGES
    | {"imgsim_vision"},
    "imgsim_common": SERVICE_PACKAGES | PRODUCT_PACKAGES | {"imgsim_vision"} | HEAVY_LIBRARIES,
    "imgsim_vision": SERVICE_PACKAGES | PRODUCT_PACKAGES,
}


@dataclass(frozen=True)
class Import:
    module: str  # as written: "imgsim_vision.model"
    file: Path
    line: int

    @property
    def package(self) -> str:
        return self.module.partition(".")[0]


def imports_in(source: str, file: Path) -> Iterator[Import]:
    """Every absolute import in a module's source, wherever it stands in the module."""
    for node in ast.walk(ast.parse(source, str(file))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, file, node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield Import(node.module, file, node.lineno)
        elif isinstance(node, ast.Call) and _imports_by_name(node):
            argument = node.args[0]
            assert isinstance(argument, ast.Constant)
            yield Import(str(argument.value), file, node.lineno)


def _imports_by_name(call: ast.Call) -> bool:
    """`importlib.import_module("x")`, `import_module("x")` or `__import__("x")`."""
    function = call.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    return (
        name in ("import_module", "__import__")
        and bool(call.args)
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    )


def forbidden_imports(package_dir: Path, forbidden: frozenset[str]) -> list[str]:
    """`file:line imports module` for each import of a forbidden top-level package."""
    found = []
    for file in sorted(package_dir.rglob("*.py")):
        for imported in sorted(imports_in(file.read_text(), file), key=lambda i: i.line):
            if imported.package in forbidden:
                where = imported.file.relative_to(package_dir.parent)
                found.append(f"{where}:{imported.line} imports {imported.module}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_package_imports_what_it_must_not(package: str) -> None:
    package_dir = PACKAGES[package]
    if not package_dir.is_dir():
        # The consistency checker is being built; until its folder exists there is nothing to
        # check, and once it exists its every module is checked.
        assert package == "imgsim_indexer_check", f"{package_dir} is missing"
        pytest.skip(f"{package_dir} does not exist yet")

    assert forbidden_imports(package_dir, FORBIDDEN[package]) == []


def test_the_services_that_must_exist_are_found() -> None:
    # An empty walk would pass every check above: make sure each one reads real modules.
    for package in ("imgsim_common", "imgsim_vision", "imgsim_vectorizer", "imgsim_search_api"):
        assert len(list(PACKAGES[package].rglob("*.py"))) >= 3, package


def test_the_search_api_imports_no_vision_library_and_no_network() -> None:
    # Spelled out, so that a change to FORBIDDEN cannot quietly let the model back in.
    forbidden = frozenset({"imgsim_vision", "keras", "tensorflow", "cv2"})

    assert forbidden <= FORBIDDEN["imgsim_search_api"]
    assert forbidden_imports(PACKAGES["imgsim_search_api"], forbidden) == []


def test_every_kind_of_import_is_found_and_only_forbidden_ones_reported(tmp_path: Path) -> None:
    package = tmp_path / "fake_api"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text(
        "import os\n"
        "from imgsim_common import names\n"
        "from . import sibling\n"
        "import imgsim_vectorizer.worker as w\n"
    )
    (package / "sub" / "late.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from imgsim_indexer_check.settings import CheckerSettings\n"
        "def run() -> None:\n"
        "    import importlib\n"
        "    importlib.import_module('imgsim_vectorizer.commands')\n"
        "    from imgsim_vectorizerish import x\n"
    )

    found = forbidden_imports(package, frozenset({"imgsim_vectorizer", "imgsim_indexer_check"}))

    assert found == [
        "fake_api/app.py:4 imports imgsim_vectorizer.worker",
        "fake_api/sub/late.py:3 imports imgsim_indexer_check.settings",
        "fake_api/sub/late.py:6 imports imgsim_vectorizer.commands",
    ]
    assert forbidden_imports(package, frozenset({"os", "imgsim_common"})) == [
        "fake_api/app.py:1 imports os",
        "fake_api/app.py:2 imports imgsim_common",
    ]


# --- From each package to the distributions its extra installs (issue 9, defect 3: the
# search-api extra lacked what upload search imports, so uploads were 503 for ever).

PYPROJECT = REPO_ROOT / "pyproject.toml"

EXTRAS: Mapping[str, str | None] = {
    "imgsim_common": None,  # the project's own dependencies only
    "imgsim_vision": "vision",
    "imgsim_vectorizer": "vectorizer",
    "imgsim_search_api": "search-api",
    "imgsim_indexer_check": "indexer-check",
    # `imgsim demo` paints with Pillow and runs a vectorizer worker.
    "imgsim_cli": "vectorizer",
}
# Needed at run time but never imported by name: Keras's ONNX export imports tf2onnx and onnx;
# uvicorn serves the API and Starlette parses forms with python-multipart.
RUNTIME_ONLY: Mapping[str, frozenset[str]] = {
    "imgsim_vision": frozenset({"tf2onnx", "onnx", "onnxruntime"}),
    "imgsim_search_api": frozenset({"uvicorn", "python-multipart"}),
}
PACKAGES_WITH_CLI = {**PACKAGES, "imgsim_cli": SERVICES / "cli" / "imgsim_cli"}


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def declared(extra: str | None) -> set[str]:
    """The distributions pyproject.toml names for an extra, its `imgsim[...]` included."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    names = set()
    pending = [Requirement(r) for r in project["dependencies"]]
    pending += [Requirement(f"imgsim[{extra}]")] if extra else []
    seen_extras: set[str] = set()
    while pending:
        requirement = pending.pop()
        if _name(requirement.name) != "imgsim":
            names.add(_name(requirement.name))
            continue
        for wanted in requirement.extras - seen_extras:
            seen_extras.add(wanted)
            pending += [Requirement(r) for r in project["optional-dependencies"][wanted]]
    return names


def installed_closure(names: set[str]) -> set[str]:
    """The names and everything they require, from the installed distributions' metadata."""
    found, pending = set(), list(names)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(_name(requirement.name))
    return found


def imported_distributions(package_dir: Path) -> set[str]:
    """The installed distributions a package imports by name (not the project's own)."""
    providers = metadata.packages_distributions()
    distributions = set()
    for file in package_dir.rglob("*.py"):
        for imported in imports_in(file.read_text(), file):
            top = imported.package
            if top in sys.stdlib_module_names or top.startswith("imgsim_"):
                continue
            distributions |= {_name(d) for d in providers.get(top, [top])}
    return distributions


@pytest.mark.parametrize("package", sorted(EXTRAS))
def test_each_packages_extra_installs_what_it_imports(package: str) -> None:
    package_dir = PACKAGES_WITH_CLI[package]
    extra = EXTRAS[package]
    optional = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    if not package_dir.is_dir() or (extra is not None and extra not in optional):
        assert package == "imgsim_indexer_check", f"{package_dir} or its extra is missing"
        pytest.skip("the consistency checker or its extra does not exist yet")

    needed = imported_distributions(package_dir) | RUNTIME_ONLY.get(package, frozenset())

    assert needed - installed_closure(declared(extra)) == set()


def test_the_search_api_extra_carries_no_model_library() -> None:
    # Issue 12: its image must not carry TensorFlow once uploads are vectorized over HTTP.
    brought = installed_closure(declared("search-api"))
    model_libraries = {
        "keras",
        "tensorflow",
        "tensorflow-cpu",
        "onnxruntime",
        "onnx",
        "tf2onnx",
        "opencv-python-headless",
        "faust-streaming",
    }

    assert brought & model_libraries == set()
    assert {"httpx", "starlette", "pillow"} <= brought  # what it does need is still there
    # The vectorizer's extra is what brings them: the closure is not empty by accident.
    assert {"tensorflow-cpu", "opencv-python-headless"} <= installed_closure(declared("vectorizer"))


def test_a_missing_distribution_is_noticed(tmp_path: Path) -> None:
    package = tmp_path / "fake_service"
    package.mkdir()
    (package / "model.py").write_text("import json\nimport cv2\nimport imgsim_vision\n")

    needed = imported_distributions(package)

    assert needed == {"opencv-python-headless"}
    assert needed - installed_closure(declared(None)) == {"opencv-python-headless"}
    assert needed - installed_closure(declared("vision")) == set()


def imported_test_modules(source: str) -> list[str]:
    """The test modules (`tests....test_*`) a module's source imports, in either form."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found += [
            module
            for module in modules
            if module.startswith("tests.") and module.rpartition(".")[2].startswith("test_")
        ]
    return found


def test_no_test_module_imports_another() -> None:
    # Shared test code lives in each folder's fixtures.py / fakes.py and in tests/support.py:
    # a test module imported by another drags its tests' fixtures and names along.
    tests = REPO_ROOT / "tests"
    found = [
        f"{file.relative_to(tests)} imports {module}"
        for file in sorted(tests.rglob("*.py"))
        for module in imported_test_modules(file.read_text())
    ]

    assert found == []
    assert imported_test_modules("from tests.indexer_check.test_offsets import StandInAdmin") == [
        "tests.indexer_check.test_offsets"
    ]
    assert imported_test_modules("from tests.faults import test_disk_full") == [
        "tests.faults.test_disk_full"
    ]
    assert imported_test_modules("from tests.indexer_check.fakes import StandInAdmin") == []
