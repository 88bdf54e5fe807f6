"""Burrow's rules for one partition of a leg, over a sliding window of committed offsets.

After linkedin/Burrow's `core/internal/evaluator/caching.go` (`calculatePartitionStatus`), in the
same order, with two deliberate differences, both written where they are applied:
- a window entry is not a commit event (Kafka's OffsetFetch gives no commit times): see
  `history.py` for how the polled offsets become entries;
- WARN asks for lag that grows, not for lag that merely never falls.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    OK = "OK"
    WARN = "WARN"
    REWIND = "REWIND"
    STALL = "STALL"
    STOP = "STOP"
    # A component failed or cannot be reached (the legs' figures then cannot be trusted).
    ERR = "ERR"


# Worst last; a leg's state is its worst partition's, the report's the worst of all.
SEVERITY: dict[State, int] = {state: code for code, state in enumerate(State)}


# Rises of the lag, commit after commit, that make a WARN.
GROWTH_STEPS = 3


def worst(states: Iterable[State]) -> State:
    return max(states, key=SEVERITY.__getitem__, default=State.OK)


@dataclass(frozen=True)
class Commit:
    """One window entry: a committed offset, the lag behind the end offset when it was seen."""

    offset: int
    lag: int
    at: float  # unix seconds


@dataclass(frozen=True)
class PartitionWindow:
    partition: int
    # The last entries, oldest first.
    commits: Sequence[Commit]
    # The topic's end offset at each of the last polls (Burrow's broker offsets).
    end_offsets: Sequence[int]
    current_lag: int
    # Polls the window needs before it is judged.
    size: int

    @property
    def warming_up(self) -> bool:
        return len(self.end_offsets) < self.size or not self.commits


@dataclass(frozen=True)
class Verdict:
    partition: int
    state: State
    lag: int
    warming_up: bool = False
    # REWIND: the offset it went back from, and to.
    rewound_from: int | None = None
    rewound_to: int | None = None


def lag_always_nonzero(commits: Sequence[Commit], allowed_lag: int) -> bool:
    """Burrow's rule 1: a window where the lag was ever (nearly) zero is OK."""
    return all(commit.lag > allowed_lag for commit in commits)


def rewind_index(commits: Sequence[Commit]) -> int | None:
    """Burrow's rule 2: the first entry whose offset is lower than the one before."""
    for i in range(1, len(commits)):
        if commits[i].offset < commits[i - 1].offset:
            return i
    return None


def rewind_recovered(commits: Sequence[Commit], index: int) -> bool:
    """A rewind is forgiven once the consumer is back where it was before it."""
    before = commits[index - 1].offset
    return any(commit.offset >= before for commit in commits[index:])


def offsets_stopped(commits: Sequence[Commit], now: float) -> bool:
    """Burrow's rule 3: no entry for longer than the window's entries span."""
    first, last = commits[0].at, commits[-1].at
    return now - last > last - first


def offsets_stalled(commits: Sequence[Commit]) -> bool:
    """Burrow's rule 4: entries keep coming, all with the same offset."""
    return all(commit.offset == commits[0].offset for commit in commits)


def lag_growing(commits: Sequence[Commit]) -> bool:
    """Rule 5, stricter than Burrow's: offsets advance and the lag seen at each commit that
    moved rises, every time, through the whole window. Burrow also warns on a lag that never
    falls, which includes one that stays the same: a consumer keeping pace with a steady load.

    Only entries where the offset moved count: between two of Connect's commits the lag rises
    with every poll and falls at the commit, whether or not the sink keeps up. And at least
    GROWTH_STEPS rises, since the lag seen at a commit wobbles with when the poll saw it."""
    moves = [c for i, c in enumerate(commits) if i == 0 or c.offset != commits[i - 1].offset]
    if len(moves) <= GROWTH_STEPS:
        return False
    return all(later.lag > earlier.lag for earlier, later in zip(moves, moves[1:], strict=False))


def recently_caught_up(commits: Sequence[Commit], end_offsets: Sequence[int]) -> bool:
    """Burrow's checkIfRecentLagZero: the last committed offset reached an end offset seen in
    the window, so a consumer that went quiet while caught up is not called stopped yet."""
    last = commits[-1].offset
    return any(end <= last for end in end_offsets)


def evaluate_partition(window: PartitionWindow, now: float, allowed_lag: int = 0) -> Verdict:
    lag = window.current_lag
    if lag <= allowed_lag:
        # Nothing waiting: never an error, however old the window.
        return Verdict(window.partition, State.OK, lag)
    if window.warming_up:
        return Verdict(window.partition, State.OK, lag, warming_up=True)
    commits = window.commits
    # STOP comes first: lag of zero long ago does not excuse a consumer gone quiet since.
    if offsets_stopped(commits, now) and not recently_caught_up(commits, window.end_offsets):
        return Verdict(window.partition, State.STOP, lag)
    # Before the zero-lag rule: a consumer caught up and then reset to the log start shows
    # zero lag early in the window and honest progress after it.
    index = rewind_index(commits)
    if index is not None and not rewind_recovered(commits, index):
        return Verdict(
            window.partition,
            State.REWIND,
            lag,
            rewound_from=commits[index - 1].offset,
            rewound_to=commits[index].offset,
        )
    if lag_always_nonzero(commits, allowed_lag):
        if offsets_stalled(commits):
            return Verdict(window.partition, State.STALL, lag)
        if lag_growing(commits):
            return Verdict(window.partition, State.WARN, lag)
    return Verdict(window.partition, State.OK, lag)


def ingest_rate(positions: Sequence[tuple[float, int]]) -> float | None:
    """Records per second committed over the window: (time, sum of committed offsets) pairs."""
    if len(positions) < 2 or positions[-1][0] <= positions[0][0]:
        return None
    (start, first), (end, last) = positions[0], positions[-1]
    return max(0.0, (last - first) / (end - start))


def catch_up_seconds(lags: Sequence[tuple[float, int]]) -> float | None:
    """Lag now / net drain rate over the window (how fast the lag falls); 0 when caught up,
    None when the lag is not falling (it would never catch up at this rate) or unknown."""
    if lags and lags[-1][1] == 0:
        return 0.0
    if len(lags) < 2 or lags[-1][0] <= lags[0][0]:
        return None
    (start, first), (end, last) = lags[0], lags[-1]
    drain = (first - last) / (end - start)
    return last / drain if drain > 0 else None
