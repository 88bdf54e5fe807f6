"""The two legs of ingestion, and a leg's state with a reason a person can act on."""

from dataclasses import dataclass

from imgsim_common import names

from imgsim_indexer_check.evaluator import (
    State,
    Verdict,
    catch_up_seconds,
    evaluate_partition,
    ingest_rate,
    worst,
)
from imgsim_indexer_check.history import LegHistory
from imgsim_indexer_check.report import LegReport, PartitionReport, utc
from imgsim_indexer_check.settings import IndexerCheckSettings


@dataclass(frozen=True)
class Leg:
    number: int
    name: str
    topic: str
    group: str
    window: int
    # What to look at when the leg is stuck (STALL), has nobody consuming (STOP) or is slow.
    stall_hint: str
    stop_hint: str
    slow_hint: str


def _worker_hint(settings: IndexerCheckSettings) -> str:
    pipeline = names.pipeline_of_index(settings.paintings_topic)
    if pipeline is not None and pipeline.consumer_group == settings.vectorizer_group:
        # A model version's pipeline: its workers are named by the model, not by the group.
        return (
            f"is a vectorizer worker of model version {pipeline.version} running "
            "(`VECTORIZER_MODEL_PATH=<that model's folder> make worker`, which reads in group "
            f"{settings.vectorizer_group})?"
        )
    return (
        "is a vectorizer worker running (`make worker`) with "
        f"VECTORIZER_CONSUMER_GROUP={settings.vectorizer_group}?"
    )


def legs(settings: IndexerCheckSettings) -> tuple[Leg, Leg]:
    connector_status = f"{settings.connect_url}/connectors/{settings.connector}/status"
    return (
        Leg(
            1,
            "image paths -> vectorizer",
            settings.image_paths_topic,
            settings.vectorizer_group,
            settings.vectorizer_window_samples,
            stall_hint="is a batch stuck or the worker failing on a record? see the worker's log",
            stop_hint=_worker_hint(settings),
            slow_hint="add vectorizer workers (same VECTORIZER_CONSUMER_GROUP, up to one per "
            "partition)",
        ),
        Leg(
            2,
            "paintings -> index",
            settings.paintings_topic,
            settings.sink_group,
            settings.sink_window_samples,
            stall_hint=f"is the connector paused or failing? see {connector_status}",
            stop_hint="is the Connect worker running (`make status`) and the connector "
            f"registered? see {connector_status}",
            slow_hint="is Elasticsearch overloaded? more connector tasks "
            "(IMGSIM_STACK_CONNECT_TASKS) drain more partitions at once",
        ),
    )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _partitions(verdicts: list[Verdict]) -> str:
    numbers = [str(v.partition) for v in verdicts]
    if len(numbers) == 1:
        return f"partition {numbers[0]}"
    return f"partitions {', '.join(numbers[:-1])} and {numbers[-1]}"


def reason(
    leg: Leg,
    state: State,
    verdicts: list[Verdict],
    history: LegHistory,
    now: float,
    catch_up: float | None = None,
) -> str:
    lag = sum(v.lag for v in verdicts)
    if state is State.OK:
        warming = [v for v in verdicts if v.warming_up]
        if lag == 0:
            return "caught up: nothing waiting"
        if warming:
            return (
                f"warming up: {len(history.lags)} of {leg.window} samples, "
                f"{_count(lag, 'record')} waiting; judged once the window is full"
            )
        eta = f", about {catch_up:.0f} s to catch up" if catch_up else ""
        return f"{_count(lag, 'record')} waiting, and the leg makes progress{eta}"
    culprits = [v for v in verdicts if v.state is state]
    waiting = sum(v.lag for v in culprits)
    where = _partitions(culprits)
    longest = max(culprits, key=lambda v: v.lag).partition
    since = history.progress_at(longest)
    idle = f"{now - since:.0f} s" if since is not None else "a while"
    if history.partitions[longest].progress_at is None:
        idle = f"at least {idle} (all the time it was watched)"
    if state is State.STALL:
        return (
            f"{where}: the committed offset has not moved for {idle} with "
            f"{_count(waiting, 'record')} waiting, while the consumer group holds it; "
            f"{leg.stall_hint}"
        )
    if state is State.STOP:
        members = history.latest.members if history.latest else 0
        nobody = (
            f"no member in consumer group {leg.group}"
            if members == 0
            else f"not held by any of the {members} members of {leg.group}"
        )
        return (
            f"{where}: no commit for {idle}, longer than the window, with "
            f"{_count(waiting, 'record')} waiting, and {nobody}; {leg.stop_hint}"
        )
    if state is State.REWIND:
        first = culprits[0]
        return (
            f"{where}: the committed offset went back from {first.rewound_from} to "
            f"{first.rewound_to} and has not caught up again: a reset or a replay; records are "
            "processed again (harmless: keys overwrite), or the group lost its offsets"
        )
    return (
        f"{where}: the lag grew at every commit through the window, now "
        f"{_count(waiting, 'record')}; the consumer is slower than the records arrive; "
        f"{leg.slow_hint}"
    )


def judge(leg: Leg, history: LegHistory, now: float, allowed_lag: int) -> LegReport:
    offsets = history.latest
    assert offsets is not None, "judge a leg after its first poll"
    windows = history.windows()
    verdicts = [evaluate_partition(window, now, allowed_lag) for window in windows]
    state = worst(v.state for v in verdicts)
    rate = ingest_rate(list(history.positions))
    catch_up = catch_up_seconds(list(history.lags))
    progress = history.progress_at()
    by_partition = {v.partition: v for v in verdicts}
    return LegReport(
        leg=leg.number,
        name=leg.name,
        topic=leg.topic,
        group=leg.group,
        state=state,
        reason=reason(leg, state, verdicts, history, now, catch_up),
        warming_up=any(v.warming_up for v in verdicts),
        lag=offsets.lag,
        partitions=[
            PartitionReport(
                partition=p.partition,
                state=by_partition[p.partition].state,
                lag=p.lag,
                committed=p.committed,
                start=p.start,
                end=p.end,
                owned=p.partition in offsets.owned,
                warming_up=by_partition[p.partition].warming_up,
                last_progress_at=utc(history.progress_at(p.partition)),
            )
            for p in offsets.partitions
        ],
        members=offsets.members,
        ingest_rate=None if rate is None else round(rate, 3),
        catch_up_s=None if catch_up is None else round(catch_up, 1),
        last_progress_at=utc(progress),
        seconds_since_progress=None if progress is None else round(max(0.0, now - progress), 1),
        window_samples=leg.window,
        samples=len(history.lags),
        offsets_read_at=utc(offsets.read_at),
    )


def unreadable(leg: Leg, error: str, history: LegHistory, now: float) -> LegReport:
    """A leg whose offsets could not be read: ERR, with what was last known of it."""
    progress = history.progress_at()
    last = history.latest
    return LegReport(
        leg=leg.number,
        name=leg.name,
        topic=leg.topic,
        group=leg.group,
        state=State.ERR,
        reason=f"its offsets cannot be read ({error}); the figures are from the last poll "
        "that could",
        lag=None if last is None else last.lag,
        last_progress_at=utc(progress),
        seconds_since_progress=None if progress is None else round(now - progress, 1),
        window_samples=leg.window,
        samples=len(history.lags),
        offsets_read_at=None if last is None else utc(last.read_at),
    )
