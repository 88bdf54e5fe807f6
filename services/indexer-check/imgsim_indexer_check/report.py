"""The checker's report: what `/health` answers, `imgsim check` prints and the metrics show.

HTTP status of `/health`: 200 when the overall state is OK or WARN (ingestion works, perhaps
slowly), 503 for REWIND, STALL, STOP and ERR (something needs a person).
"""

from datetime import UTC, datetime

from pydantic import BaseModel, Field, SerializeAsAny

from imgsim_indexer_check.evaluator import State, worst

HEALTHY = frozenset({State.OK, State.WARN})


def utc(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


class PartitionReport(BaseModel):
    partition: int
    state: State
    lag: int
    committed: int | None = Field(description="None: the group never committed here")
    start: int
    end: int
    owned: bool = Field(description="a live member of the consumer group holds it")
    warming_up: bool = False
    last_progress_at: datetime | None = None


class LegReport(BaseModel):
    leg: int
    name: str
    topic: str
    group: str
    state: State
    reason: str
    warming_up: bool = False
    lag: int | None = Field(None, description="None when the offsets could not be read")
    partitions: list[PartitionReport] = []
    members: int | None = None
    ingest_rate: float | None = Field(None, description="records/s committed over the window")
    catch_up_s: float | None = Field(
        None, description="lag / net drain rate; 0 when caught up, None when not draining"
    )
    last_progress_at: datetime | None = None
    seconds_since_progress: float | None = None
    window_samples: int
    samples: int = Field(0, description="polls in the window so far")
    offsets_read_at: datetime | None = None


class ConnectorTask(BaseModel):
    id: int
    state: str
    worker_id: str = ""
    trace: str | None = None


class ComponentReport(BaseModel):
    name: str
    state: State
    reason: str
    url: str = ""
    reachable: bool = Field(True, description="False: the component could not be asked")
    version: str | None = None
    # The connector's.
    connector_state: str | None = None
    tasks: list[ConnectorTask] | None = None
    # Elasticsearch's and the index's.
    cluster_status: str | None = None
    alias: str | None = None
    indices: list[str] | None = None
    write_index: str | None = None
    documents: int | None = None


class Report(BaseModel):
    state: State
    reason: str
    http_status: int
    checked_at: datetime
    poll_seconds: float
    legs: list[LegReport]
    components: list[ComponentReport]
    # Id-level reconciliation (published -> outcome, topic -> index), filled by its own module
    # on its own interval; None until it first runs.
    reconciliation: SerializeAsAny[BaseModel] | None = None

    def leg(self, number: int) -> LegReport:
        return next(leg for leg in self.legs if leg.leg == number)

    def component(self, name: str) -> ComponentReport:
        return next(c for c in self.components if c.name == name)


def http_status(state: State) -> int:
    return 200 if state in HEALTHY else 503


def summarise(
    legs: list[LegReport],
    components: list[ComponentReport],
    checked_at: float,
    poll_seconds: float,
    extra: list[tuple[State, str]] | None = None,
) -> Report:
    """The report whose state is the worst of the legs', the components' and `extra`'s (e.g.
    reconciliation's), and whose reason is that worst item's, or every unhealthy one's."""
    items: list[tuple[State, str]] = [
        *((leg.state, f"leg {leg.leg} ({leg.name}) {leg.state}: {leg.reason}") for leg in legs),
        *((c.state, f"{c.name} {c.state}: {c.reason}") for c in components),
        *(extra or []),
    ]
    state = worst(state for state, _ in items)
    unhealthy = [reason for item_state, reason in items if item_state is not State.OK]
    warming = [f"leg {leg.leg} {leg.reason}" for leg in legs if leg.warming_up]
    if unhealthy:
        reason = "; ".join(unhealthy)
    elif warming:
        reason = "OK so far; " + "; ".join(warming)
    else:
        reason = "every leg and component is OK"
    return Report(
        state=state,
        reason=reason,
        http_status=http_status(state),
        checked_at=datetime.fromtimestamp(checked_at, UTC),
        poll_seconds=round(poll_seconds, 3),
        legs=legs,
        components=components,
    )
