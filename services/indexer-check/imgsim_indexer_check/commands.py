"""`imgsim check`: a one-off report (a table, or `--json`), or `--watch` refreshing it.

Exit codes follow the overall state, the higher the worse, so that `[ $? -ge 4 ]` means stuck:
0 OK, 1 WARN, 2 bad arguments or settings (argparse's own code), 3 REWIND, 4 STALL, 5 STOP,
6 ERR.
"""

import argparse
import asyncio
import math
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from imgsim_indexer_check.evaluator import State
from imgsim_indexer_check.report import Report
from imgsim_indexer_check.settings import IndexerCheckSettings

if TYPE_CHECKING:
    from imgsim_indexer_check.checker import Checker
    from imgsim_indexer_check.reconcile import Reconciliation

EXIT_CODES: dict[State, int] = {
    State.OK: 0,
    State.WARN: 1,
    State.REWIND: 3,
    State.STALL: 4,
    State.STOP: 5,
    State.ERR: 6,
}
BAD_ARGUMENTS = 2
COLOURS = {State.OK: "green", State.WARN: "yellow", State.REWIND: "magenta"}

console = Console(highlight=False, markup=False, soft_wrap=False)
errors = Console(stderr=True, highlight=False, markup=False)


def add_check_parser(
    subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]",
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "check",
        help="ingestion health: lag and state of both legs, Connect and Elasticsearch",
        description="Report the lag and state of both legs (image paths -> vectorizer, "
        "paintings -> index), the connector and Elasticsearch (settings from INDEXER_CHECK_*). "
        "A one-off check has no history, so it samples the offsets for a while before judging, "
        "unless every leg is caught up at once. Exit code: 0 OK, 1 WARN, 2 bad arguments, "
        "3 REWIND, 4 STALL, 5 STOP, 6 ERR.",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--watch", action="store_true", help="refresh the report every poll until Ctrl-C"
    )
    parser.add_argument(
        "--sample-seconds",
        type=float,
        metavar="S",
        help="how long a one-off check samples (default: two commit intervals of the slower "
        "leg plus one poll, 11 s with Connect's 5 s)",
    )
    parser.add_argument(
        "--poll-interval", type=float, metavar="S", help="seconds between polls (default 1)"
    )
    parser.add_argument(
        "--polls", type=int, metavar="N", help="with --watch: stop after N refreshes"
    )
    parser.add_argument(
        "--model-version",
        metavar="VERSION",
        help="check a trained model version's own pipeline (its topic, connector and index; "
        "`imgsim model list` names them) instead of the base one",
    )
    ids = parser.add_argument_group(
        "id-level reconciliation",
        "Published ids against their outcomes, and the paintings topic against the index "
        "(reads both topics whole and every id in the index).",
    )
    ids.add_argument(
        "--reconcile", action="store_true", help="reconcile ids too; its faults count as ERR"
    )
    ids.add_argument(
        "--repair",
        action="store_true",
        help="re-drive unresolved ids, missing and stale documents through their leg",
    )
    ids.add_argument(
        "--delete-extra", action="store_true", help="with --repair: delete extra documents"
    )
    ids.add_argument(
        "--retry-dead-letters",
        action="store_true",
        help="publish dead-lettered inputs again (once their cause is fixed)",
    )
    ids.add_argument("--reason", metavar="REASON", help="with --retry-dead-letters: only these")
    ids.add_argument(
        "--dry-run", action="store_true", help="with --repair or --retry: only list the actions"
    )
    return parser


def exit_code(state: State) -> int:
    return EXIT_CODES[state]


def _number(value: float | int | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.1f}{unit}" if isinstance(value, float) else f"{value:,}{unit}"


def _state(state: State) -> Text:
    return Text(state.value, style=f"bold {COLOURS.get(state, 'red')}")


def render(report: Report, note: str = "") -> Group:
    legs = Table(title="ingestion legs", title_justify="left", expand=False)
    for column in ("leg", "state", "lag", "records/s", "catch-up", "no progress", "reason"):
        legs.add_column(column, overflow="fold")
    for leg in report.legs:
        legs.add_row(
            f"{leg.leg} {leg.name}",
            _state(leg.state),
            _number(leg.lag),
            _number(leg.ingest_rate),
            _number(leg.catch_up_s, " s"),
            _number(leg.seconds_since_progress, " s"),
            leg.reason,
        )
    components = Table(title="components", title_justify="left")
    for column in ("component", "state", "reason"):
        components.add_column(column, overflow="fold")
    for component in report.components:
        components.add_row(component.name, _state(component.state), component.reason)
    headline = Text.assemble(
        "overall ", _state(report.state), f"  at {report.checked_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    parts: list[Any] = [headline, legs, components]
    if report.state is not State.OK:
        parts.append(Text(report.reason, overflow="fold"))
    from imgsim_indexer_check.reconcile import Reconciliation

    if isinstance(report.reconciliation, Reconciliation):
        parts.append(_reconciliation_table(report.reconciliation))
    if note:
        parts.append(Text(note, style="dim"))
    return Group(*parts)


def _reconciliation_table(found: "Reconciliation") -> Table:
    table = Table(title="id-level reconciliation", title_justify="left", show_header=False)
    table.add_column()
    table.add_column(justify="right")
    rows = [
        ("published ids", found.published),
        ("vectorized (live on paintings)", found.vectorized),
        ("documents in the index", found.indexed),
        ("dead-lettered", found.dead_lettered),
        ("removed (tombstones)", found.removed),
        ("rejected by the sink (paintings-dlq)", found.rejected_by_sink),
        (
            "pending: vectorizing / indexing",
            f"{found.pending_vectorizing} / {found.pending_indexing}",
        ),
        ("unresolved", found.unresolved),
        ("missing / extra / stale", f"{found.missing} / {found.extra} / {found.stale}"),
    ]
    rows += [(f"dead letters: {r}", n) for r, n in found.dead_letters_by_reason.items()]
    for name, value in rows:
        table.add_row(name, str(value))
    for kind in ("unresolved", "missing", "extra", "stale"):
        listed = getattr(found, f"{kind}_ids")
        if listed:
            table.add_row(
                f"{kind} ids", ", ".join(listed[:10]) + (" ..." if len(listed) > 10 else "")
            )
    table.caption = f"took {found.seconds:.1f} s"
    return table


def _settings(args: argparse.Namespace, **overrides: Any) -> IndexerCheckSettings:
    if args.poll_interval is not None:
        overrides["poll_interval_s"] = args.poll_interval
    if getattr(args, "model_version", None):
        overrides["model_version"] = args.model_version
    # Imported here: `imgsim --help` needs no Elasticsearch client.
    from imgsim_indexer_check import searched

    return searched.follow(IndexerCheckSettings(**overrides))


async def sample(
    settings: IndexerCheckSettings,
    seconds: float,
    checker: "Checker | None" = None,
    reconciliation: "Reconciliation | None" = None,
) -> tuple[Report, str]:
    """Polls for `seconds` (one window), or once when every leg is caught up at once."""
    # Imported here: `imgsim --help` and the other commands need no Kafka client.
    from imgsim_indexer_check.checker import Checker

    checker = checker or Checker(settings)
    checker.reconciliation = reconciliation
    try:
        report = await checker.poll()
        polls = 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not all(leg.lag == 0 or leg.state is State.ERR for leg in report.legs):
            if loop.time() >= deadline:
                break
            await asyncio.sleep(min(settings.poll_interval_s, max(0.0, deadline - loop.time())))
            report = await checker.poll()
            polls += 1
    finally:
        await checker.aclose()
    if polls == 1:
        return report, "one poll: every leg was caught up (or unreadable), nothing to sample"
    return report, (
        f"judged over {seconds:g} s of samples ({polls} polls): a one-off check has no "
        "history, so it watched the offsets first"
    )


def _one_off(args: argparse.Namespace) -> int:
    probe = _settings(args)
    interval = args.poll_interval or 1.0
    slowest = max(probe.vectorizer_commit_interval_s, probe.sink_commit_interval_s)
    seconds = args.sample_seconds if args.sample_seconds is not None else 2 * slowest + interval
    if seconds < slowest:
        errors.print(
            f"error: --sample-seconds {seconds:g} is shorter than a commit interval of the "
            f"slower leg ({slowest:g} s): a healthy leg would look stalled",
            style="red",
        )
        return BAD_ARGUMENTS
    polls = int(seconds / interval) + 1
    settings = _settings(args, poll_interval_s=interval, vectorizer_window=polls, sink_window=polls)
    reconciliation = _with_reconciliation(args)
    if args.json:
        report, _ = asyncio.run(sample(settings, seconds, reconciliation=reconciliation))
        print(report.model_dump_json(indent=2))
    else:
        with errors.status(f"sampling offsets for up to {seconds:g} s ..."):
            report, note = asyncio.run(sample(settings, seconds, reconciliation=reconciliation))
        console.print(render(report, note))
    return exit_code(report.state)


async def watch(settings: IndexerCheckSettings, polls: int | None) -> State:
    from imgsim_indexer_check.checker import Checker

    checker = Checker(settings)
    state = State.OK
    try:
        with Live(console=console, auto_refresh=False) as live:
            done = 0
            while polls is None or done < polls:
                report = await checker.poll()
                state, done = report.state, done + 1
                note = f"every {settings.poll_interval_s:g} s; Ctrl-C to stop"
                live.update(render(report, note), refresh=True)
                if polls is None or done < polls:
                    await asyncio.sleep(settings.poll_interval_s)
    finally:
        await checker.aclose()
    return state


def _repair(args: argparse.Namespace) -> int:
    from imgsim_indexer_check.reconciler import Reconciler
    from imgsim_indexer_check.repair import RepairRefused

    reconciler = Reconciler(_settings(args))
    try:
        if args.retry_dead_letters:
            result = reconciler.retry_dead_letters(args.reason, args.dry_run)
        else:
            result = reconciler.repair(args.delete_extra, args.dry_run)
    except RepairRefused as e:  # it says which login deletes: a traceback would bury that
        errors.print(f"error: {e}", style="red")
        return EXIT_CODES[State.ERR]
    finally:
        reconciler.close()
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    verb = "would" if result.dry_run else "will"
    for action in result.actions:
        console.print(f"{verb}: {action}", soft_wrap=True)
    if not result.actions:
        console.print("nothing to do")
    elif not result.dry_run:
        done = ", ".join(f"{count} {kind}" for kind, count in result.done.items()) or "nothing"
        console.print(f"done: {done}; the pipeline catches up in seconds (`imgsim check`)")
    return 0


def _with_reconciliation(args: argparse.Namespace) -> "Reconciliation | None":
    if not args.reconcile:
        return None
    from imgsim_indexer_check.reconciler import Reconciler

    reconciler = Reconciler(_settings(args))
    try:
        with errors.status("reconciling ids ..."):
            return reconciler.reconcile()
    finally:
        reconciler.close()


def check_command(args: argparse.Namespace) -> int:
    if (args.delete_extra and not args.repair) or (args.reason and not args.retry_dead_letters):
        errors.print("error: --delete-extra needs --repair, --reason --retry-dead-letters")
        return BAD_ARGUMENTS
    if args.dry_run and not (args.repair or args.retry_dead_letters):
        errors.print("error: --dry-run needs --repair or --retry-dead-letters")
        return BAD_ARGUMENTS
    try:
        if args.repair or args.retry_dead_letters:
            return _repair(args)
        if args.watch:
            if args.json:
                errors.print("error: --watch and --json do not go together", style="red")
                return BAD_ARGUMENTS
            return exit_code(asyncio.run(watch(_settings(args), args.polls)))
        return _one_off(args)
    except ValidationError as e:
        errors.print(f"error: invalid settings (INDEXER_CHECK_* or options):\n{e}", style="red")
        return BAD_ARGUMENTS
    except KeyboardInterrupt:
        return 130
