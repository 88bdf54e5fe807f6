"""The report's overall state, reason and HTTP status, and its JSON."""

import json

import pytest
from imgsim_indexer_check.evaluator import State
from imgsim_indexer_check.report import ComponentReport, LegReport, http_status, summarise
from pydantic import BaseModel


def leg(number: int, state: State, reason: str = "fine", warming_up: bool = False) -> LegReport:
    return LegReport(
        leg=number,
        name=f"leg {number}",
        topic="t",
        group="g",
        state=state,
        reason=reason,
        warming_up=warming_up,
        lag=0,
        window_samples=5,
    )


def component(state: State, reason: str = "fine") -> ComponentReport:
    return ComponentReport(name="connector", state=state, reason=reason)


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (State.OK, 200),
        (State.WARN, 200),
        (State.REWIND, 503),
        (State.STALL, 503),
        (State.STOP, 503),
        (State.ERR, 503),
    ],
)
def test_http_status_follows_the_state(state: State, status: int) -> None:
    assert http_status(state) == status
    report = summarise([leg(1, state)], [component(State.OK)], 0.0, 0.1)
    assert (report.state, report.http_status) == (state, status)


def test_the_overall_state_is_the_worst_and_the_reason_names_every_unhealthy_item() -> None:
    report = summarise(
        [leg(1, State.WARN, "slow"), leg(2, State.STALL, "stuck")],
        [component(State.OK), component(State.ERR, "paused")],
        0.0,
        0.1,
    )

    assert report.state is State.ERR
    assert report.reason == (
        "leg 1 (leg 1) WARN: slow; leg 2 (leg 2) STALL: stuck; connector ERR: paused"
    )


def test_an_all_ok_report_says_so_and_mentions_warming_up() -> None:
    assert summarise([leg(1, State.OK)], [], 0.0, 0.1).reason == "every leg and component is OK"
    warming = summarise([leg(1, State.OK, "warming up: 1 of 5", warming_up=True)], [], 0.0, 0.1)
    assert warming.reason == "OK so far; leg 1 warming up: 1 of 5"


def test_extra_states_such_as_reconciliations_count_towards_the_overall_state() -> None:
    report = summarise([leg(1, State.OK)], [], 0.0, 0.1, extra=[(State.WARN, "3 missing")])
    assert report.state is State.WARN
    assert report.reason == "3 missing"


def test_the_report_is_json_with_a_reconciliation_section_of_any_shape() -> None:
    class Reconciliation(BaseModel):
        missing: int
        ids: list[str]

    report = summarise([leg(1, State.OK)], [component(State.OK)], 1_700_000_000.5, 0.1234)
    assert json.loads(report.model_dump_json())["reconciliation"] is None

    report.reconciliation = Reconciliation(missing=1, ids=["a.jpg"])
    document = json.loads(report.model_dump_json())

    assert document["reconciliation"] == {"missing": 1, "ids": ["a.jpg"]}
    assert document["checked_at"] == "2023-11-14T22:13:20.500000Z"
    assert document["legs"][0]["state"] == "OK"
    assert document["poll_seconds"] == 0.123
