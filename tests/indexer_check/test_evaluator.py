"""Burrow's rules, case by case: linkedin/Burrow's own table (core/internal/evaluator/
caching_test.go, times in seconds here), then the boundaries and where this checker differs."""

from collections.abc import Sequence

import pytest
from imgsim_indexer_check.evaluator import (
    Commit,
    PartitionWindow,
    State,
    catch_up_seconds,
    evaluate_partition,
    ingest_rate,
    lag_growing,
    offsets_stopped,
    worst,
)


def commits(*entries: tuple[int, int, float]) -> tuple[Commit, ...]:
    return tuple(Commit(offset, lag, at) for offset, lag, at in entries)


def window(
    entries: Sequence[Commit], ends: Sequence[int], lag: int, size: int | None = None
) -> PartitionWindow:
    return PartitionWindow(0, tuple(entries), tuple(ends), lag, size or len(ends))


ADVANCING_FROM_ZERO = commits(
    (1000, 0, 100), (2000, 50, 200), (3000, 100, 300), (4000, 150, 400), (5000, 200, 500)
)
ADVANCING_WITH_LAG = commits(
    (1000, 50, 100), (2000, 100, 200), (3000, 150, 300), (4000, 200, 400), (5000, 250, 500)
)
STUCK_FROM_ZERO = commits(
    (1000, 0, 100), (1000, 50, 200), (1000, 100, 300), (1000, 150, 400), (1000, 200, 500)
)
STUCK_WITH_LAG = commits(
    (1000, 100, 100), (1000, 150, 200), (1000, 200, 300), (1000, 250, 400), (1000, 300, 500)
)
STUCK_WITH_STEADY_LAG = commits(
    (1000, 100, 100), (1000, 100, 200), (1000, 100, 300), (1000, 100, 400), (1000, 100, 500)
)
REWOUND_AND_RECOVERED = commits(
    (1000, 100, 100), (2000, 150, 200), (3000, 200, 300), (2000, 1250, 400), (4000, 300, 500)
)
REWOUND = commits(
    (1000, 100, 100), (2000, 150, 200), (3000, 200, 300), (2000, 1250, 400), (2500, 300, 500)
)
CAUGHT_UP_EVERY_SECOND = commits(*((792748079 + i, 0, 1000.0 + i) for i in range(15)))

BURROW_CASES = [
    # 0: lag was zero in the window
    (ADVANCING_FROM_ZERO, [5200], 200, 600, State.OK),
    # 1: 400 s since the last commit equals the window's span, not more
    (ADVANCING_FROM_ZERO, [5200], 200, 900, State.OK),
    # 2: 500 s > 400 s: STOP, although the lag was zero at the window's start
    (ADVANCING_FROM_ZERO, [5200], 200, 1000, State.STOP),
    # 3: STOP with lag all along
    (ADVANCING_WITH_LAG, [5250], 250, 1000, State.STOP),
    # 4: the offset never moves, but the lag was zero in the window
    (STUCK_FROM_ZERO, [1200], 200, 600, State.OK),
    # 5: the offset never moves with lag all along
    (STUCK_WITH_LAG, [1300], 300, 600, State.STALL),
    # 6: ... also when that lag stays the same
    (STUCK_WITH_STEADY_LAG, [1100], 100, 600, State.STALL),
    # 7: went back, and got past where it was: forgiven
    (REWOUND_AND_RECOVERED, [4300], 300, 600, State.OK),
    # 8: nothing waiting now: OK whatever the window says
    (ADVANCING_WITH_LAG, [5250], 0, 1000, State.OK),
    # 9: caught up all along, then new records and no commit since: STOP
    (
        CAUGHT_UP_EVERY_SECOND,
        [792749024, 792749000, 792748800, 792748600, 792748500],
        931,
        1050,
        State.STOP,
    ),
    # 10: ... but not while a recent end offset shows it caught up
    (CAUGHT_UP_EVERY_SECOND, [792748094, 792748093, 792748093, 792748093], 1, 1050, State.OK),
    # 15: went back and has not got past where it was
    (REWOUND, [4300], 300, 600, State.REWIND),
]


@pytest.mark.parametrize(("entries", "ends", "lag", "now", "expected"), BURROW_CASES)
def test_burrows_cases(
    entries: Sequence[Commit], ends: list[int], lag: int, now: float, expected: State
) -> None:
    assert evaluate_partition(window(entries, ends, lag), now).state is expected


def test_an_allowed_lag_counts_as_caught_up() -> None:
    # Burrow's 12: the lag is 1, allowed 1.
    entries = commits((1000, 2, 100), (2000, 1, 200), (2000, 1, 300))
    assert evaluate_partition(window(entries, [2001], 1), 550, allowed_lag=1).state is State.OK
    assert evaluate_partition(window(entries, [2001], 1), 550, allowed_lag=0).state is State.STOP


def test_a_lag_that_rises_at_every_commit_is_a_warning() -> None:
    # Burrow's 3 before the consumer went quiet.
    verdict = evaluate_partition(window(ADVANCING_WITH_LAG, [5250], 250), 550)
    assert verdict.state is State.WARN


def test_a_steady_lag_under_steady_load_is_not_a_warning() -> None:
    # Burrow warns here (the lag never falls); a consumer keeping pace has a steady lag.
    steady = commits(*((1000 * i, 120, 100.0 * i) for i in range(1, 8)))
    assert evaluate_partition(window(steady, [7120], 120), 750).state is State.OK


def test_a_lag_that_wobbles_is_not_a_warning() -> None:
    wobbling = commits(
        (1000, 100, 1), (2000, 130, 2), (3000, 90, 3), (4000, 150, 4), (5000, 170, 5)
    )
    assert not lag_growing(wobbling)
    assert evaluate_partition(window(wobbling, [5170], 170), 5.5).state is State.OK


def test_growth_is_judged_at_commits_not_at_polls_between_them() -> None:
    # Connect commits every 5 s, the checker polls every 2 s: between commits the lag rises with
    # each poll and falls at the commit. A sink that falls behind shows it at the commits.
    behind = commits(
        (1000, 100, 0), (1000, 300, 2), (1000, 500, 4),
        (1900, 400, 6), (1900, 600, 8),
        (2800, 500, 10), (2800, 700, 12), (2800, 900, 14),
        (3700, 600, 16),
    )  # fmt: skip
    keeping_up = commits(
        (1000, 100, 0), (1000, 300, 2), (1000, 500, 4),
        (2000, 300, 6), (2000, 500, 8),
        (3000, 100, 10), (3000, 300, 12), (3000, 500, 14),
        (4000, 300, 16),
    )  # fmt: skip
    assert evaluate_partition(window(behind, [4300], 600), 16.5).state is State.WARN
    assert evaluate_partition(window(keeping_up, [4300], 300), 16.5).state is State.OK


def test_a_warning_needs_three_rises() -> None:
    three = commits((1000, 10, 1), (2000, 20, 2), (3000, 30, 3), (4000, 40, 4))
    assert lag_growing(three)
    assert not lag_growing(three[:3])
    flat_once = commits((1000, 10, 1), (2000, 20, 2), (3000, 20, 3), (4000, 40, 4))
    assert not lag_growing(flat_once)


def test_stop_is_judged_against_the_span_of_the_window() -> None:
    entries = commits((1000, 5, 10), (1100, 5, 20), (1200, 5, 30))
    assert not offsets_stopped(entries, now=50)  # 20 s since the last, span 20 s
    assert offsets_stopped(entries, now=50.01)


def test_stall_while_entries_keep_coming_stop_when_they_do_not() -> None:
    # A live consumer adds an entry at every poll (history.py): same offset, fresh entries.
    alive = commits(*((1000, 50 + i, 10.0 + 2 * i) for i in range(6)))
    assert evaluate_partition(window(alive, [1055] * 6, 55), 20.5).state is State.STALL
    # Nobody holds the partition: the entries stopped at 20 s; 20 s later is not STOP yet ...
    gone = commits((800, 50, 10), (1000, 40, 20))
    assert evaluate_partition(window(gone, [1055] * 6, 55), 30).state is not State.STOP
    # ... and once the silence outlasts the window's 10 s span, it is.
    assert evaluate_partition(window(gone, [1055] * 6, 55), 30.5).state is State.STOP


def test_a_rewind_that_caught_up_again_is_forgiven_even_past_the_old_offset() -> None:
    entries = commits((5000, 10, 1), (1200, 3800, 2), (3000, 2000, 3), (5000, 100, 4))
    assert evaluate_partition(window(entries, [5100], 100), 4.5).state is State.OK
    rewound = evaluate_partition(window(entries[:3], [5000], 2000), 3.5)
    assert rewound.state is State.REWIND
    assert (rewound.rewound_from, rewound.rewound_to) == (5000, 1200)


def test_a_rewind_is_seen_even_when_the_lag_was_zero_before_it() -> None:
    # Caught up, then reset to the log start: zero lag early in the window does not hide it.
    entries = commits((9000, 0, 1), (9000, 0, 2), (0, 9000, 3), (500, 8500, 4))
    assert evaluate_partition(window(entries, [9000] * 4, 8500), 4.5).state is State.REWIND


def test_a_window_not_yet_full_is_warming_up_and_ok() -> None:
    entries = STUCK_WITH_LAG[:2]
    verdict = evaluate_partition(window(entries, [1300, 1300], 300, size=5), 600)
    assert verdict.state is State.OK and verdict.warming_up
    # Nothing waiting is OK at once, without warming up.
    caught_up = evaluate_partition(window(entries, [1000], 0, size=5), 600)
    assert caught_up.state is State.OK and not caught_up.warming_up


def test_worst_orders_the_states() -> None:
    assert worst([State.OK, State.WARN, State.OK]) is State.WARN
    assert worst([State.STALL, State.REWIND]) is State.STALL
    assert worst([State.STOP, State.ERR, State.STALL]) is State.ERR
    assert worst([]) is State.OK


def test_ingest_rate_is_records_committed_per_second() -> None:
    assert ingest_rate([(0.0, 100), (2.0, 150), (4.0, 300)]) == pytest.approx(50.0)
    assert ingest_rate([(0.0, 100)]) is None
    assert ingest_rate([(0.0, 300), (2.0, 100)]) == 0.0  # a rewind commits nothing new


def test_catch_up_is_lag_over_net_drain_rate() -> None:
    assert catch_up_seconds([(0.0, 1000), (10.0, 600)]) == pytest.approx(15.0)  # 40/s
    assert catch_up_seconds([(0.0, 600), (10.0, 1000)]) is None  # growing: never at this rate
    assert catch_up_seconds([(0.0, 600), (10.0, 600)]) is None
    assert catch_up_seconds([(0.0, 600), (10.0, 0)]) == 0.0
    assert catch_up_seconds([(0.0, 600)]) is None
