"""What the checker remembers of a leg between polls: the windows Burrow's rules look at.

Burrow reads every commit from `__consumer_offsets`, commits of an unchanged offset included,
with their times; a poll of the committed offsets sees neither. So an entry is added to a
partition's window when the poll finds
- the committed offset moved: a commit seen (its time is the poll's, within one interval), or
- the offset did not move but a live member of the group holds the partition: a consumer that
  is there and would commit if it could, which is what Burrow's repeated commits of the same
  offset tell. Enough of these with lag is a STALL.
When nobody holds the partition and the offset does not move, nothing is added, and once the
time since the last entry exceeds the span of the window it is a STOP (Burrow's rule 3).
Neither of this product's consumers commits an unchanged offset anyway (faust and Connect
both skip such a commit), so to Burrow a stuck one would look stopped whether alive or not.
"""

from collections import deque
from dataclasses import dataclass, field

from imgsim_indexer_check.evaluator import Commit, PartitionWindow
from imgsim_indexer_check.offsets import LegOffsets, PartitionOffsets


@dataclass
class PartitionHistory:
    size: int
    first_seen_at: float
    commits: deque[Commit] = field(init=False)
    end_offsets: deque[int] = field(init=False)
    # When the committed offset last moved, or nothing was waiting: the last sign of health.
    progress_at: float | None = None

    def __post_init__(self) -> None:
        self.commits = deque(maxlen=self.size)
        self.end_offsets = deque(maxlen=self.size)

    def record(self, offsets: PartitionOffsets, owned: bool, at: float, allowed_lag: int) -> None:
        last = self.commits[-1] if self.commits else None
        moved = last is not None and offsets.position != last.offset
        if last is None or moved or owned:
            self.commits.append(Commit(offsets.position, offsets.lag, at))
        self.end_offsets.append(offsets.end)
        if moved or offsets.lag <= allowed_lag:
            self.progress_at = at

    def window(self, offsets: PartitionOffsets) -> PartitionWindow:
        return PartitionWindow(
            partition=offsets.partition,
            commits=tuple(self.commits),
            end_offsets=tuple(self.end_offsets),
            current_lag=offsets.lag,
            size=self.size,
        )


class LegHistory:
    def __init__(self, size: int, allowed_lag: int = 0) -> None:
        self.size = size
        self.allowed_lag = allowed_lag
        self.partitions: dict[int, PartitionHistory] = {}
        # (time, sum of committed positions) and (time, total lag) at each poll: for the rates.
        self.positions: deque[tuple[float, int]] = deque(maxlen=size)
        self.lags: deque[tuple[float, int]] = deque(maxlen=size)
        self.latest: LegOffsets | None = None

    def record(self, offsets: LegOffsets) -> None:
        at = offsets.read_at
        seen = {p.partition for p in offsets.partitions}
        for gone in set(self.partitions) - seen:  # the topic was recreated with fewer
            del self.partitions[gone]
        for partition in offsets.partitions:
            history = self.partitions.get(partition.partition)
            if history is None:
                history = self.partitions[partition.partition] = PartitionHistory(self.size, at)
            history.record(partition, partition.partition in offsets.owned, at, self.allowed_lag)
        self.positions.append((at, offsets.committed_total))
        self.lags.append((at, offsets.lag))
        self.latest = offsets

    def windows(self) -> list[PartitionWindow]:
        if self.latest is None:
            return []
        return [self.partitions[p.partition].window(p) for p in self.latest.partitions]

    def progress_at(self, partition: int | None = None) -> float | None:
        """When the partition last moved or had nothing waiting (since the checker started
        watching, when never). For the leg: the partition waiting longest, so that one stuck
        partition is not hidden by others that keep up."""
        histories = (
            list(self.partitions.values()) if partition is None else [self.partitions[partition]]
        )
        times = [h.progress_at or h.first_seen_at for h in histories]
        return min(times, default=None)
