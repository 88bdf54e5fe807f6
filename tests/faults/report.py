"""The fault suite's report: what each scenario injected, how soon the checker saw it, how soon
everything recovered, what was published, indexed and dead-lettered, and what the search API
answered meanwhile; rendered as Markdown for the README's reliability section."""

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

from imgsim_stack.settings import REPO_ROOT

REPORT_PATH = REPO_ROOT / ".stack" / "faults-report.md"


@dataclass
class ApiPhase:
    """The search API's answers in one phase of a scenario (before, during, after the fault)."""

    phase: str
    statuses: dict[str, int]  # status code (or "connection error") -> count
    p50_ms: float | None
    p95_ms: float | None

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if not status.startswith("2"))


@dataclass
class Scenario:
    name: str
    injected: str
    down_s: float
    detect_s: float | None
    detected_as: str
    recover_s: float | None
    caught_up_s: float
    published: int
    indexed: int
    dead_lettered: int
    restart_s: float | None = None  # the component's own start until it answered healthy
    api: list[ApiPhase] = field(default_factory=list)
    note: str = ""


@dataclass
class HostileOutcome:
    case: str
    expected: str
    outcome: str


@dataclass
class Recorder:
    scenarios: list[Scenario] = field(default_factory=list)
    hostile: list[HostileOutcome] = field(default_factory=list)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(self))


def _s(seconds: float | None) -> str:
    return "not seen" if seconds is None else f"{seconds:.1f} s"


def _ms(ms: float | None) -> str:
    return "-" if ms is None else f"{ms:.0f}"


def render(recorder: Recorder) -> str:
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    lines = [
        "# Fault suite report",
        "",
        f"Written {time.strftime('%Y-%m-%d %H:%M:%S %Z')} on {machine} by `make test-faults`.",
        "Times: *detect* from the fault to the checker's first unhealthy report (HTTP 503);",
        "*restart* the component's own start until it answered;",
        "*recover* from the component's restart to the checker's first healthy report again;",
        "*caught up* from the restart to reconciliation with nothing in flight. Every scenario",
        "ended with reconciliation missing = extra = stale = unresolved = 0 and the index holding",
        "exactly the distinct ids published less those dead-lettered.",
        "",
    ]
    if recorder.scenarios:
        lines += [
            "| scenario | injected | down | detect | checker saw | restart | recover "
            "| caught up | published | indexed | dead-lettered |",
            "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for s in recorder.scenarios:
            lines.append(
                f"| {s.name} | {s.injected} | {_s(s.down_s)} | {_s(s.detect_s)} "
                f"| {s.detected_as} | {_s(s.restart_s) if s.restart_s else '-'} "
                f"| {_s(s.recover_s)} | {_s(s.caught_up_s)} "
                f"| {s.published} | {s.indexed} | {s.dead_lettered} |"
            )
        lines.append("")
    for s in recorder.scenarios:
        if s.note:
            lines += [f"- **{s.name}**: {s.note}"]
    for s in (s for s in recorder.scenarios if s.api):
        lines += [
            "",
            f"## Search API during: {s.name}",
            "",
            "| phase | requests | answers | errors | p50 ms | p95 ms |",
            "| --- | ---: | --- | ---: | ---: | ---: |",
        ]
        for phase in s.api:
            answers = ", ".join(f"{k}: {v}" for k, v in sorted(phase.statuses.items()))
            lines.append(
                f"| {phase.phase} | {phase.requests} | {answers} | {phase.errors} "
                f"| {_ms(phase.p50_ms)} | {_ms(phase.p95_ms)} |"
            )
    if recorder.hostile:
        lines += [
            "",
            f"## Hostile input: {len(recorder.hostile)} cases",
            "",
            "Files and records through a worker (outcome: indexed, or the dead letter's reason);",
            "requests to the search API with each of 7 `Accept` types (outcome: the statuses).",
            "",
            "| case | expected | outcome |",
            "| --- | --- | --- |",
        ]
        for h in recorder.hostile:
            case = h.case.replace("|", "\\|")
            lines.append(f"| {case} | {h.expected} | {h.outcome} |")
    return "\n".join(lines) + "\n"
