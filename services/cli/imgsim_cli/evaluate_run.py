"""The course of an evaluation: the labelled set and the model card, the API's representations
and index, then each measurement, timed; the report at the end.

A bad argument is refused with status 2 before the API is asked anything; an API that cannot be
reached, or an index that lacks paintings of the set, ends with status 1.
"""

import contextlib
import json
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
from imgsim_common.model_card import ModelCard
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from imgsim_cli import (
    evaluate_card,
    evaluate_classify,
    evaluate_pairs,
    evaluate_retrieval,
    evaluate_robustness,
)
from imgsim_cli.evaluate import BAD_ARGUMENTS, FAILED, OK, Options
from imgsim_cli.evaluate_client import (
    RepresentationInfo,
    SearchApi,
    SearchApiError,
    searched,
)
from imgsim_cli.evaluate_report import Evaluation, show
from imgsim_cli.evaluate_set import LabelledSet, read_labelled_set

# The table is some 150 characters wide: into a file or a pipe it goes whole, not folded at 80.
WIDTH_OFF_TERMINAL = 200
Task = Callable[[str, int], Callable[[], None]]


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@contextlib.contextmanager
def progress_bar(enabled: bool) -> Iterator[Task]:
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )

    def task(description: str, total: int) -> Callable[[], None]:
        """A bar of `total` steps (0: as many as there turn out to be); its step."""
        task_id = bar.add_task(description, total=total or None)
        return lambda: bar.advance(task_id)

    with bar:
        yield task


def chosen(listed: list[RepresentationInfo], names: tuple[str, ...]) -> list[RepresentationInfo]:
    known = {r.name: r for r in listed}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise Refused(
            BAD_ARGUMENTS,
            f"the API has no representation {unknown[0]!r} (it has: {', '.join(known)})",
        )
    return [known[n] for n in names] if names else listed


async def evaluate(options: Options, transport: httpx.AsyncBaseTransport | None = None) -> int:
    started = time.monotonic()
    labelled, card = _inputs(options)
    client = httpx.AsyncClient(base_url=options.api, timeout=options.timeout_s, transport=transport)
    with progress_bar(options.progress) as task:
        async with client:
            api = SearchApi(client, options.concurrency)
            evaluation = await _prepare(options, api, labelled, card, task)
            evaluation.seconds["set_and_index"] = time.monotonic() - started
            await _measure(options, api, labelled, evaluation, task)
            if options.classify and options.model is not None:
                _classify(options.model, options, labelled, evaluation, task)
    if card is not None:
        evaluation.heads, notes = evaluate_card.heads(card, labelled.held_out)
        labelled.notes.extend(notes)
    evaluation.labelled = labelled.summary(len(evaluation.candidates.ids))
    evaluation.seconds["total"] = time.monotonic() - started
    _report(options, evaluation)
    return OK


def _inputs(options: Options) -> tuple[LabelledSet, ModelCard | None]:
    """The labelled set and the card, or status 2 saying what is wrong with them."""
    if options.classify and options.model is None:
        raise Refused(BAD_ARGUMENTS, "--classify runs the trained model: give it with --model")
    if options.json is not None and not options.json.parent.is_dir():
        raise Refused(BAD_ARGUMENTS, f"--json: {options.json.parent} is not a folder")
    try:
        labelled = read_labelled_set(options.images, options.metadata, options.model)
        card = evaluate_card.load_card(options.model) if options.model else None
    except (OSError, ValueError) as e:
        raise Refused(BAD_ARGUMENTS, str(e)) from None
    labelled.sample_queries(options.queries, options.seed)
    return labelled, card


async def _prepare(
    options: Options, api: SearchApi, labelled: LabelledSet, card: ModelCard | None, task: Task
) -> Evaluation:
    """What the API searches, and whether the index holds the set: status 1 if not."""
    try:
        listed, metrics = await api.representations()
        indexed = await api.indexed_ids(task("index pages read", 0))
    except SearchApiError as e:
        raise _unreachable(options, e) from None
    representations = chosen(listed, options.representations)
    labelled.missing = sorted(i for i in labelled.paintings if i not in indexed)
    if labelled.missing and not options.allow_missing:
        raise Refused(
            FAILED,
            f"{len(labelled.missing)} of the {len(labelled.paintings)} paintings of the set are "
            f"not in the index (first: {labelled.missing[0]}); ingest them first (imgsim ingest "
            f"{options.images} --metadata {options.metadata}), or pass --allow-missing",
        )
    labelled.queries = [q for q in labelled.queries if q in indexed]
    if not labelled.queries:
        raise Refused(FAILED, "none of the held-out paintings is in the index")
    return Evaluation(
        settings=_settings(options),
        labelled={},
        representations=representations,
        kinds=evaluate_card.kinds(listed, card),
        searched=searched(representations, metrics),
        candidates=evaluate_retrieval.Candidates(labelled, indexed),
    )


async def _measure(
    options: Options, api: SearchApi, labelled: LabelledSet, evaluation: Evaluation, task: Task
) -> None:
    queries, seconds = labelled.queries, evaluation.seconds
    mark = time.monotonic()
    evaluation.retrieval = await evaluate_retrieval.retrieve(
        api,
        evaluation.candidates,
        queries,
        evaluation.searched,
        options.k,
        options.k + options.extra,
        task("similar-by-id queries", len(queries) * len(evaluation.searched)),
    )
    seconds["retrieval"] = time.monotonic() - mark
    failures = evaluation.retrieval.failures
    if evaluation.retrieval.requests == sum(failures.values()):
        first = next(iter(failures), "no query")
        raise Refused(FAILED, f"every query failed ({first}); is {options.api} up?")
    evaluation.baseline, evaluation.expected = evaluate_retrieval.random_baseline(
        evaluation.candidates, queries, options.k, options.draws, options.seed
    )

    mark = time.monotonic()
    vectors, evaluation.pairs_skipped = await evaluate_pairs.fetch_vectors(
        api, queries, task("paintings' vectors", len(queries))
    )
    if evaluation.pairs_skipped is None:
        evaluation.pairs = evaluate_pairs.pair_quality(
            labelled, vectors, evaluation.searched, options.pair_paintings, options.seed
        )
    evaluation.random_pairs = evaluate_pairs.random_pair_quality(
        labelled, options.pair_paintings, options.seed
    )
    seconds["pair_auc"] = time.monotonic() - mark
    await _robustness(options, api, queries, evaluation, task)


async def _robustness(
    options: Options, api: SearchApi, queries: list[str], evaluation: Evaluation, task: Task
) -> None:
    if options.robustness == 0:
        evaluation.robustness_skipped = "not asked (--robustness 0)"
        return
    try:
        import PIL  # noqa: F401 - only to say that it is missing
    except ModuleNotFoundError:
        evaluation.robustness_skipped = "Pillow is not installed (pip install 'imgsim[vision]')"
        return
    ids = sorted(random.Random(options.seed).sample(queries, min(options.robustness, len(queries))))
    uploads = len(ids) * len(evaluation.searched) * len(evaluate_robustness.VARIANTS)
    robustness = await evaluate_robustness.check_robustness(
        api,
        options.images,
        ids,
        evaluation.searched,
        options.upload_wait_s,
        task("uploads of altered paintings", uploads),
    )
    evaluation.robustness, evaluation.robustness_skipped = robustness, robustness.skipped
    evaluation.seconds["robustness"] = robustness.seconds


def _classify(
    model_dir: Path, options: Options, labelled: LabelledSet, evaluation: Evaluation, task: Task
) -> None:
    mark = time.monotonic()
    batches = -(-len(labelled.queries) // evaluate_classify.BATCH)
    try:
        evaluation.classified, evaluation.unclassifiable = evaluate_classify.classify(
            model_dir, options.images, labelled, labelled.queries, task("classified", batches)
        )
    except (OSError, ValueError, ImportError) as e:  # the figures so far still stand
        evaluation.classify_skipped = f"the model cannot classify: {e}"
    evaluation.seconds["classify"] = time.monotonic() - mark


def _report(options: Options, evaluation: Evaluation) -> None:
    width = None if sys.stdout.isatty() else WIDTH_OFF_TERMINAL
    console = Console(highlight=False, markup=False, width=width)
    show(evaluation, console)
    seconds = evaluation.seconds
    console.print(
        f"{evaluation.retrieval.requests} similar-by-id queries in {seconds['retrieval']:.1f} s, "
        f"{options.concurrency} at a time; {seconds['total']:.1f} s in all"
    )
    if options.json is not None:
        options.json.write_text(json.dumps(evaluation.to_json(), indent=2) + "\n")
        console.print(f"every figure: {options.json}")


def _settings(options: Options) -> dict[str, Any]:
    paths = ("images", "metadata", "model", "json")
    return {
        **{k: str(v) if v is not None and k in paths else v for k, v in asdict(options).items()},
        "fetch": options.k + options.extra,
    }


def _unreachable(options: Options, error: SearchApiError) -> Refused:
    where = f"the search API at {options.api}"
    if error.status is None:
        return Refused(FAILED, f"cannot reach {where}: {error.message} (start it: make api)")
    return Refused(FAILED, f"{where} answered {error.status}: {error.message}")
