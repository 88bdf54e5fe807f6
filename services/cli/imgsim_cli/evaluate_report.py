"""An evaluation's figures, as the table a person reads and the JSON a program does."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from imgsim_cli.evaluate_client import RepresentationInfo, Searched
from imgsim_cli.evaluate_pairs import RANDOM, PairQuality
from imgsim_cli.evaluate_retrieval import Candidates, Retrieval, Scores
from imgsim_cli.evaluate_robustness import Robustness


@dataclass
class Evaluation:
    settings: dict[str, Any]
    labelled: dict[str, Any]  # counts and notes of the labelled set
    representations: list[RepresentationInfo]
    kinds: dict[str, str]  # representation -> trained, backbone or unknown
    searched: Searched
    candidates: Candidates
    retrieval: Retrieval = field(default_factory=lambda: Retrieval({}))
    baseline: Scores = field(default_factory=Scores)
    expected: dict[str, float | None] = field(default_factory=dict)
    pairs: PairQuality | None = None
    pairs_skipped: str | None = None
    random_pairs: PairQuality | None = None
    robustness: Robustness | None = None
    robustness_skipped: str | None = None
    heads: list[dict[str, Any]] | None = None  # as the card gives them
    classified: list[dict[str, Any]] | None = None  # measured on the queries (--classify)
    unclassifiable: int = 0  # query images the model could not decode
    classify_skipped: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def groups(self) -> tuple[str, ...]:
        return ("all",) if self.labelled["split"] == "none" else ("unseen", "seen")

    def rows(self) -> list[tuple[str, str]]:
        return [
            (r.name, m)
            for r in self.representations
            for m in self.searched
            if r.name in self.searched[m]
        ]

    def to_json(self) -> dict[str, Any]:
        robustness = self.robustness
        return {
            "settings": self.settings,
            "set": self.labelled,
            "searched": {m: list(names) for m, names in self.searched.items()},
            "representations": [
                {"name": r.name, "dims": r.dims, "kind": self.kinds[r.name]}
                for r in self.representations
            ],
            "results": [
                {
                    "representation": r,
                    "kind": self.kinds[r],
                    "metric": m,
                    "retrieval": self.retrieval.scores[(r, m)].summary(),
                    "pair_auc": self.pairs[(r, m)] if self.pairs else None,
                    "robustness": robustness.summary(r, m)
                    if robustness and not robustness.skipped
                    else None,
                }
                for r, m in self.rows()
            ],
            "random_baseline": {
                "retrieval": self.baseline.summary(),
                "expected_precision": self.expected,
                "pair_auc": self.random_pairs[(RANDOM, "cosine")] if self.random_pairs else None,
            },
            "retrieval_requests": self.retrieval.requests,
            "retrieval_requests_per_s": round(
                self.retrieval.requests / self.seconds["retrieval"], 1
            )
            if self.seconds.get("retrieval")
            else None,
            "retrieval_failures": dict(self.retrieval.failures),
            "pair_auc_skipped": self.pairs_skipped,
            "robustness": None if robustness is None else robustness.to_json(),
            "robustness_skipped": self.robustness_skipped,
            "heads": self.heads,
            "classified": self.classified,
            "unclassifiable": self.unclassifiable,
            "classify_skipped": self.classify_skipped,
            "seconds": {name: round(s, 2) for name, s in self.seconds.items()},
        }


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _auc(quality: dict[str, dict[str, dict[str, Any]]] | None, label: str, group: str) -> str:
    return _figure(quality[label][group]["auc"]) if quality and group in quality[label] else "-"


def _rank1(robustness: Robustness | None, representation: str, metric: str) -> str:
    """The share found at rank 1, on how many answered uploads, and how many failed."""
    if robustness is None or robustness.skipped:
        return "-"
    done, failed = robustness.done(metric), robustness.failed_for(metric)
    cell = f"{_figure(robustness.rank1(representation, metric))} of {done}"
    return f"{cell}, {failed} failed" if failed else cell


def uploads_line(robustness: Robustness) -> str:
    """How the altered copies' uploads went: answered, failed by kind, retried."""
    asked, failed = robustness.asked, sum(robustness.failed.values())
    line = f"robustness: {asked} uploads of altered copies, sent up to {robustness.at_once} at once"
    if failed:
        kinds = ", ".join(f"{n} {kind}" for kind, n in robustness.failures.most_common())
        line += (
            f"; {failed} FAILED ({failed / asked:.1%}: {kinds}) and are left out of rank-1, "
            f"which stands on the {asked - failed} answered"
        )
    else:
        line += "; every one answered"
    if robustness.retries:
        kinds = ", ".join(f"{n} after {kind}" for kind, n in robustness.retries.most_common())
        line += f"; sent again: {kinds}"
    return line


def table(evaluation: Evaluation) -> Table:
    k = evaluation.settings["k"]
    queries = evaluation.labelled["queries"]
    held_out = "(no split)" if evaluation.labelled["split"] == "none" else "held-out"
    result = Table(
        title=f"{queries} {held_out} paintings searched through {evaluation.settings['api']}: "
        f"P@{k} and mAP@{k} (same label among the first {k}), pair AUC, altered copies at rank 1"
    )
    for heading in ("representation", "kind", "metric"):
        result.add_column(heading)
    labels = ("style", "genre", "artist")
    aucs = [(label, g) for label in ("style", "artist") for g in evaluation.groups]
    for heading in (
        *(f"P@{k} {label}" for label in labels),
        f"mAP@{k} style",
        *(f"AUC {label} {g}" for label, g in aucs),
        "rank-1 altered (of uploads)",
    ):
        result.add_column(heading, justify="right")
    robustness = evaluation.robustness
    for r, m in evaluation.rows():
        summary = evaluation.retrieval.scores[(r, m)].summary()
        pairs = evaluation.pairs[(r, m)] if evaluation.pairs else None
        result.add_row(
            r,
            evaluation.kinds[r],
            m,
            *(_figure(summary["precision"][label]) for label in labels),
            _figure(summary["map"]["style"]),
            *(_auc(pairs, label, g) for label, g in aucs),
            _rank1(robustness, r, m),
        )
    baseline = evaluation.baseline.summary()
    random_pairs = evaluation.random_pairs[(RANDOM, "cosine")] if evaluation.random_pairs else None
    result.add_row(
        RANDOM,
        "baseline",
        "-",
        *(_figure(baseline["precision"][label]) for label in labels),
        _figure(baseline["map"]["style"]),
        *(_auc(random_pairs, label, g) for label, g in aucs),
        "-",
        style="dim",
    )
    return result


TRAINED: Final = frozenset({"trained"})
# Everything no training made: the backbone's taps (random or ImageNet weights) and the layout.
UNTRAINED: Final = frozenset({"backbone", "pixels"})


def best(evaluation: Evaluation, kinds: frozenset[str]) -> tuple[str, str, float] | None:
    """The representation and metric of one of `kinds` with the highest precision@k of style."""
    found = [
        (r, m, p)
        for r, m in evaluation.rows()
        if evaluation.kinds[r] in kinds
        and (p := evaluation.retrieval.scores[(r, m)].summary()["precision"]["style"]) is not None
    ]
    return max(found, key=lambda row: row[2]) if found else None


def most_robust(evaluation: Evaluation) -> tuple[str, str, float] | None:
    """The representation and metric that found the original at rank 1 most often."""
    robustness = evaluation.robustness
    if robustness is None or robustness.skipped:
        return None
    found = [
        (r, m, rank1) for r, m in evaluation.rows() if (rank1 := robustness.rank1(r, m)) is not None
    ]
    return max(found, key=lambda row: row[2]) if found else None


def show(evaluation: Evaluation, console: Console) -> None:
    console.print(table(evaluation))
    k = evaluation.settings["k"]
    trained, untrained = best(evaluation, TRAINED), best(evaluation, UNTRAINED)
    lines: list[str] = []
    for name, found in (("trained", trained), ("untrained", untrained)):
        if found:
            lines.append(f"best {name}: {found[0]} ({found[1]}), P@{k} style {found[2]:.3f}")
    if trained and untrained and untrained[2] > 0:
        lines.append(f"trained / untrained P@{k} style: {trained[2] / untrained[2]:.2f}x")
    if (found := most_robust(evaluation)) is not None:
        done = evaluation.robustness.done(found[1]) if evaluation.robustness else 0
        lines.append(
            f"best at finding the original: {found[0]} ({found[1]}), rank 1 for {found[2]:.3f} "
            f"of {done} answered uploads of crops, rescales and re-encodes"
        )
    if evaluation.robustness is not None and not evaluation.robustness.skipped:
        lines.append(uploads_line(evaluation.robustness))
    for reason, what in (
        (evaluation.pairs_skipped, "pair AUC"),
        (evaluation.robustness_skipped, "robustness"),
        (evaluation.classify_skipped, "classification"),
    ):
        if reason:
            lines.append(f"{what} skipped: {reason}")
    failures = evaluation.retrieval.failures
    if failures:
        first = next(iter(failures))
        lines.append(
            f"{sum(failures.values())} of {evaluation.retrieval.requests} queries failed "
            f"(first: {first}) and are left out of the figures"
        )
    for note in evaluation.labelled.get("notes", []):
        lines.append(f"note: {note}")
    for line in lines:
        console.print(line)
    if evaluation.heads:
        console.print(heads_table(evaluation.heads, evaluation.classified))


def heads_table(
    heads: Sequence[dict[str, Any]], classified: Sequence[dict[str, Any]] | None
) -> Table:
    """Each head's accuracy on the card's validation split, and on the queries when measured."""
    measured = {h["name"]: h for h in classified or []}
    result = Table(title="Classification per head")
    for heading in ("head", "column", "classes", "validation accuracy", "balanced"):
        result.add_column(heading, justify="left" if heading in ("head", "column") else "right")
    if classified is not None:
        for heading in ("accuracy on queries", "balanced", "paintings"):
            result.add_column(heading, justify="right")
    for head in heads:
        cells = [
            head["name"],
            head["column"],
            str(head["classes"]),
            _figure(head["accuracy"]),
            _figure(head["balanced_accuracy"]),
        ]
        if classified is not None:
            on_queries = measured.get(head["name"], {})
            cells += [
                _figure(on_queries.get("accuracy")),
                _figure(on_queries.get("balanced_accuracy")),
                str(on_queries.get("paintings", 0)),
            ]
        result.add_row(*cells)
    return result
