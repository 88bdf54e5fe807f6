"""Polled offsets become window entries, and a leg's state emerges over polls."""

from imgsim_indexer_check.evaluator import State, evaluate_partition
from imgsim_indexer_check.history import LegHistory
from imgsim_indexer_check.offsets import LegOffsets, PartitionOffsets


def poll(
    at: float, committed: int | None, end: int, owned: bool = True, start: int = 0
) -> LegOffsets:
    return LegOffsets(
        topic="t",
        group="g",
        partitions=(PartitionOffsets(0, committed, start, end),),
        owned=frozenset({0}) if owned else frozenset(),
        members=1 if owned else 0,
        read_at=at,
    )


def states(history: LegHistory, polls: list[LegOffsets]) -> list[State]:
    seen = []
    for offsets in polls:
        history.record(offsets)
        (window,) = history.windows()
        seen.append(evaluate_partition(window, offsets.read_at).state)
    return seen


def test_a_live_consumer_that_does_not_move_stalls_once_the_window_is_full() -> None:
    history = LegHistory(size=5)
    polls = [poll(2.0 * i, 100, 150 + 10 * i) for i in range(7)]

    seen = states(history, polls)

    assert seen[:4] == [State.OK] * 4  # warming up
    assert seen[4:] == [State.STALL] * 3
    assert len(history.partitions[0].commits) == 5  # an entry every poll, the window's worth


def test_a_partition_nobody_holds_stops_once_the_silence_outlasts_the_window() -> None:
    history = LegHistory(size=5)
    moving = [poll(2.0 * i, 100 * i, 100 * i + 50) for i in range(5)]
    # The consumer leaves at 8 s with 50 records waiting; records keep coming.
    gone = [poll(2.0 * i, 400, 450 + 20 * i, owned=False) for i in range(5, 12)]

    seen = states(history, moving + gone)

    assert State.STALL not in seen
    assert seen[:5] == [State.OK] * 5
    # The window's entries span 0..8 s; the silence exceeds 8 s after 16 s.
    first_stop = seen.index(State.STOP)
    assert gone[first_stop - 5].read_at > 16
    assert all(state is State.STOP for state in seen[first_stop:])
    assert len(history.partitions[0].commits) == 5  # nothing added while nobody holds it


def test_a_consumer_that_comes_back_and_catches_up_is_ok_again() -> None:
    history = LegHistory(size=3)
    states(history, [poll(float(i), 100, 200, owned=False) for i in range(6)])
    assert states(history, [poll(6.0, 150, 200), poll(7.0, 200, 200)]) == [State.OK, State.OK]


def test_no_commit_counts_lag_from_the_log_start() -> None:
    history = LegHistory(size=3)
    history.record(poll(1.0, None, 1000, start=400))
    (window,) = history.windows()
    assert window.current_lag == 600
    assert window.commits[-1].offset == 400


def test_progress_is_a_move_or_nothing_waiting_and_the_leg_takes_the_longest_wait() -> None:
    history = LegHistory(size=3)
    two = LegOffsets(
        "t",
        "g",
        (PartitionOffsets(0, 100, 0, 100), PartitionOffsets(1, 50, 0, 90)),
        frozenset({0, 1}),
        1,
        read_at=10.0,
    )
    history.record(two)
    later = LegOffsets(
        "t",
        "g",
        (PartitionOffsets(0, 100, 0, 100), PartitionOffsets(1, 50, 0, 120)),
        frozenset({0, 1}),
        1,
        read_at=30.0,
    )
    history.record(later)

    assert history.progress_at(0) == 30.0  # caught up
    assert history.progress_at(1) == 10.0  # waiting since it was first seen
    assert history.progress_at() == 10.0


def test_rates_come_from_the_leg_totals() -> None:
    history = LegHistory(size=3)
    for i in range(4):
        history.record(poll(2.0 * i, 100 * i, 100 * i + 50))
    assert list(history.positions) == [(2.0, 100), (4.0, 200), (6.0, 300)]
    assert [lag for _, lag in history.lags] == [50, 50, 50]
