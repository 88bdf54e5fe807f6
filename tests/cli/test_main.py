"""The `imgsim` command line: built from each service's commands, light to start."""

import argparse
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
from imgsim_cli import child_argv
from imgsim_cli.main import CHECKER_COMMANDS, build_parser, main

HEAVY = ("tensorflow", "keras", "cv2", "faust", "onnxruntime", "tf2onnx", "PIL")


def test_usage_errors_return_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["publish", "--no-such-option", "."]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("publish", "worker", "demo"):
        assert command in out


def test_each_command_runs_its_own_function() -> None:
    parser = build_parser()

    assert parser.parse_args(["publish", "."]).command.__name__ == "publish_command"
    assert parser.parse_args(["worker"]).command.__name__ == "worker_command"
    assert parser.parse_args(["demo"]).command.__name__ == "demo_command"
    assert parser.parse_args(["check"]).command.__name__ == "check_command"  # the checker's


def test_publish_loads_neither_the_model_nor_the_stream_libraries(tmp_path: Path) -> None:
    # In a fresh interpreter: this test process has long imported all of them.
    probe = (
        "import json, sys\n"
        "from imgsim_cli.main import main\n"
        f"code = main(['publish', {str(tmp_path / 'nowhere')!r}])\n"
        f"print(json.dumps([code, sorted(m for m in {HEAVY!r} if m in sys.modules)]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )

    code, loaded = json.loads(result.stdout.splitlines()[-1])
    assert code == 2  # the folder is missing: the command ran up to its own check
    assert loaded == []


def test_the_child_command_line_runs_imgsim_on_this_interpreter() -> None:
    result = subprocess.run(
        child_argv("--help"), capture_output=True, text=True, timeout=60, check=True
    )

    assert child_argv("worker")[0] == sys.executable
    assert "usage: imgsim" in result.stdout


def test_check_is_wired_in_when_the_checkers_commands_are_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []
    checker = types.ModuleType(CHECKER_COMMANDS)

    def add_check_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
        commands.add_parser("check").add_argument("--once", action="store_true")

    def check_command(args: argparse.Namespace) -> int:
        calls.append(args.once)
        return 3

    checker.add_check_parser = add_check_parser  # type: ignore[attr-defined]
    checker.check_command = check_command  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, CHECKER_COMMANDS, checker)

    assert main(["check", "--once"]) == 3
    assert calls == [True]


def test_without_the_checkers_commands_there_is_no_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, CHECKER_COMMANDS, None)  # import raises ModuleNotFoundError

    assert main(["check"]) == 2
    assert "invalid choice: 'check'" in capsys.readouterr().err
    assert main(["publish", "--help"]) == 0
