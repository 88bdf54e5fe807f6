"""`imgsim check`: exit codes, sampling before judging, the table and bad arguments."""

import argparse
import asyncio
import io

import pytest
from imgsim_indexer_check import commands
from imgsim_indexer_check.commands import add_check_parser, check_command, exit_code, render
from imgsim_indexer_check.evaluator import State
from imgsim_indexer_check.offsets import LegOffsets
from rich.console import Console

from tests.indexer_check.fakes import Components, checker, leg_offsets


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="imgsim")
    add_check_parser(parser.add_subparsers(dest="name", required=True))
    return parser.parse_args(["check", *argv])


def test_exit_codes_rise_with_the_state_and_leave_2_to_bad_arguments() -> None:
    codes = [exit_code(state) for state in State]
    assert codes == [0, 1, 3, 4, 5, 6]
    assert commands.BAD_ARGUMENTS not in codes


def test_the_parser_takes_the_options() -> None:
    args = parse("--json", "--sample-seconds", "12", "--poll-interval", "0.5")
    assert (args.json, args.watch, args.sample_seconds, args.poll_interval) == (
        True,
        False,
        12.0,
        0.5,
    )


def test_a_caught_up_pipeline_is_judged_at_the_first_poll() -> None:
    made, reader, _ = checker(Components())

    report, note = asyncio.run(commands.sample(made.settings, 30, made))

    assert report.state is State.OK
    assert len(reader.reads) == 2  # one poll, both legs
    assert "one poll" in note


def test_a_lagging_leg_is_sampled_for_the_whole_window_before_it_is_judged() -> None:
    def answer(topic: str, group: str, at: float) -> LegOffsets:
        if topic == "paintings":
            return leg_offsets(topic, group, [(10, 50)], at, owned=False)  # nobody consuming
        return leg_offsets(topic, group, [(5, 5)], at)

    made, reader, _ = checker(
        Components(), answer, poll_interval_s=0.01, vectorizer_window=None, sink_window=None
    )

    report, note = asyncio.run(commands.sample(made.settings, 0.3, made))

    assert len(reader.reads) >= 2 * 10  # polled on, every 0.01 s for 0.3 s
    assert note.startswith("judged over 0.3 s of samples (")
    assert "a one-off check has no history" in note
    assert report.leg(2).lag == 40


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sample-seconds", "2"], "shorter than a commit interval"),
        (["--watch", "--json"], "do not go together"),
        (["--poll-interval", "-1"], "poll_interval_s"),
    ],
)
def test_bad_arguments_exit_2_with_a_reason(
    argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    captured = io.StringIO()
    monkeypatch.setattr(commands, "errors", Console(file=captured, width=200))

    assert check_command(parse(*argv)) == commands.BAD_ARGUMENTS
    assert message in captured.getvalue()


def test_bad_settings_exit_2_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INDEXER_CHECK_CONNECT_URL", "localhost-8083")
    captured = io.StringIO()
    monkeypatch.setattr(commands, "errors", Console(file=captured, width=200))

    assert check_command(parse()) == commands.BAD_ARGUMENTS
    assert "connect_url" in captured.getvalue()
    assert "is not an http(s) URL" in captured.getvalue()


def test_the_table_shows_each_leg_and_component_with_its_state_and_reason() -> None:
    made, _, _ = checker(Components(connector_state="PAUSED"))
    report = asyncio.run(made.poll())
    out = io.StringIO()

    Console(file=out, width=200).print(render(report, "one poll"))

    text = out.getvalue()
    assert "overall ERR" in text
    assert "1 image paths -> vectorizer" in text and "2 paintings -> index" in text
    assert "caught up: nothing waiting" in text
    assert "connector" in text and "the connector is PAUSED" in text
    assert "one poll" in text
