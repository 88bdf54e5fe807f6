"""Mutation testing of the unit tests with cosmic-ray: `python tests/mutation/run.py [NAME ...]`.

Each `NAME.toml` beside this file is a cosmic-ray config: one module and the unit tests that
exercise it. cosmic-ray mutates files in place, and others (people, agents, an editor) use the
checkout meanwhile, so every run mutates a copy of `services/` and `tests/` in a temporary
folder; the copy's packages come first on PYTHONPATH. Sessions are kept in `.mutation/` for
`cr-report`. Mutants that merely break the import (a type union turned into a subtraction) are
counted apart: any test "kills" them, so they say nothing about the tests.
"""

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SESSIONS = REPO / ".mutation"
IMPORT_BREAKING = "mutation: the module no longer imports"


@dataclass
class Score:
    name: str
    mutants: int = 0
    import_breaking: int = 0
    # Mutations cosmic-ray failed to make (its ExceptionReplacer on `except (a.B, C)`).
    not_made: int = 0
    killed: int = 0
    timeouts: int = 0
    survivors: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def tested(self) -> int:
        return self.mutants - self.import_breaking - self.not_made

    def line(self) -> str:
        percent = 100 * self.killed / self.tested if self.tested else 0.0
        return (
            f"{self.name:<18}{self.killed:>4}/{self.tested:<4} {percent:5.1f}%"
            f"   import-breaking {self.import_breaking:>3}   not made {self.not_made}"
            f"   timeouts {self.timeouts:>2}"
            f"   {self.seconds:5.0f} s"
        )


def check(module: str, pytest_args: list[str]) -> int:
    """The test command of every config: the import first, so that such mutants are told apart."""
    try:
        importlib.import_module(module)
    # Whatever the mutant raises at import, SystemExit too (`if __name__ != "__main__"`).
    except BaseException as e:
        print(f"{IMPORT_BREAKING}: {type(e).__name__}: {e}")
        return 1
    import pytest

    # A module that imports anyio (the search API's do, through Starlette) imported it before
    # pytest loads anyio's plugin, which pytest then warns it cannot rewrite: with the project's
    # `filterwarnings = error`, every run failed, the baseline too.
    ignore = ["-W", "ignore:Module already imported:pytest.PytestAssertRewriteWarning"]
    return int(pytest.main([*ignore, *pytest_args]))


def copy_tree(into: Path) -> dict[str, str]:
    """The copy to mutate, and the environment that makes its packages the ones imported."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*-data", ".pytest_cache")
    for folder in ("services", "tests"):
        shutil.copytree(REPO / folder, into / folder, ignore=ignore)
    shutil.copy2(REPO / "pyproject.toml", into / "pyproject.toml")
    package_dirs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"
    ]
    roots = sorted({str(into / Path(d).parent) for d in package_dirs.values() if "services" in d})
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*roots, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # The configs say `python`: the one running this script, with the project installed.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    return env


def cosmic_ray(*args: str, cwd: Path, env: dict[str, str]) -> str:
    command = [str(Path(sys.executable).parent / "cosmic-ray"), *args]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"cosmic-ray {args[0]} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def mutate(name: str, copy: Path, env: dict[str, str]) -> Score:
    config = HERE / f"{name}.toml"
    session = SESSIONS / f"{name}.sqlite"
    session.unlink(missing_ok=True)
    started = time.monotonic()
    cosmic_ray("init", str(config), str(session), cwd=copy, env=env)
    # A red run without mutants would "kill" every mutant.
    cosmic_ray("baseline", str(config), cwd=copy, env=env)
    cosmic_ray("exec", str(config), str(session), cwd=copy, env=env)
    score = Score(name, seconds=time.monotonic() - started)
    survivors: list[str] = []
    for line in cosmic_ray("dump", str(session), cwd=copy, env=env).splitlines():
        _, result = json.loads(line)
        score.mutants += 1
        output = (result or {}).get("output") or ""
        if IMPORT_BREAKING in output or "error during collection" in output:
            score.import_breaking += 1
        elif result and result["test_outcome"] == "incompetent":
            score.not_made += 1
        elif result and result["test_outcome"] == "killed":
            score.killed += 1
            score.timeouts += output == "timeout"
        else:
            survivors.append((result or {}).get("diff") or "(not run)")
    score.survivors = tuple(survivors)
    return score


def main() -> int:
    if sys.argv[1:2] == ["check"]:
        return check(sys.argv[2], sys.argv[4:] if sys.argv[3:4] == ["--"] else sys.argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = sorted(p.stem for p in HERE.glob("*.toml"))
    parser.add_argument("names", nargs="*", help=f"modules to mutate (all): {', '.join(names)}")
    parser.add_argument("--survivors", action="store_true", help="print each survivor's diff")
    options = parser.parse_args()
    if unknown := set(options.names) - set(names):
        parser.error(f"no config for {', '.join(sorted(unknown))}; there are {', '.join(names)}")
    SESSIONS.mkdir(exist_ok=True)
    scores: list[Score] = []
    with tempfile.TemporaryDirectory(prefix="imgsim-mutation-") as folder:
        env = copy_tree(Path(folder))
        # One module at a time: the machines have few cores, and tests run fastest alone.
        for name in options.names or names:
            scores.append(mutate(name, Path(folder), env))
            print(scores[-1].line(), flush=True)
            if options.survivors:
                print("\n".join(scores[-1].survivors), flush=True)
    print("killed/tested, without the mutants that break the import; sessions in .mutation/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
