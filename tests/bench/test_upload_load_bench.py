"""The upload load bench's pure parts: its arguments and the summary it prints (the bench itself
needs Elasticsearch and minutes: `make bench-upload-load`)."""

import importlib
import os
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # The benches import their siblings by name, as `python bench/x.py` puts bench/ on the path.
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("upload_load_bench")


def test_the_defaults_are_the_issue_s_load(bench: ModuleType) -> None:
    args = bench.parse_args([])
    assert (args.clients, args.uploaders, args.upload_mb) == (8, 16, 20.0)
    assert args.max_concurrent_uploads is None and not args.honour_retry_after


@pytest.mark.parametrize(
    "argv", [["--clients", "0"], ["--max-uploads", "0"], ["--seconds", "0"], ["--upload-mb", "-1"]]
)
def test_a_bound_that_is_not_positive_is_refused(
    bench: ModuleType, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        bench.parse_args(argv)
    assert refused.value.code == 2
    assert "must be" in capsys.readouterr().err


def test_the_summary_sets_the_phases_side_by_side_with_the_ratio(bench: ModuleType) -> None:
    alone = [10.0] * 95 + [20.0] * 5
    loaded = [15.0] * 90 + [50.0] * 10
    lines = bench.summary(alone, loaded, Counter({"429": 40, "200": 6}), 22)
    assert "| alone | 100 | 10.0 | 19.5 |" in lines
    assert "| under upload load | 100 | 15.0 | 50.0 |" in lines
    assert "p95 under load / p95 alone: 2.56 (p50: 1.50)" in lines
    assert "uploads sent: 46 in 22 s (200: 6, 429: 40)" in lines
    assert lines[-1].endswith("NOT met")


def test_the_target_needs_both_the_ratio_and_refused_uploads(bench: ModuleType) -> None:
    alone = [float(n) for n in range(1, 101)]
    assert bench.summary(alone, alone, Counter({"429": 3}), 10)[-1].endswith(": met")
    assert bench.summary(alone, alone, Counter({"200": 3}), 10)[-1].endswith("NOT met")


def teardown_module() -> None:
    # The bench's siblings stay importable by name only within these tests.
    for name in ("upload_load_bench", "upload_bench", "api_process"):
        sys.modules.pop(name, None)


def test_the_cpu_line_says_where_the_cores_went_and_leaves_the_rest_to_elasticsearch(
    bench: ModuleType,
) -> None:
    used = {"machine": 38.0, "API": 9.0, "uploaders": 12.0}
    line = bench.cpu_line(used, 20)
    assert line == (
        "CPU in cores: machine 1.90 = API 0.45, uploaders 0.60, "
        "the rest (Elasticsearch, other processes) 0.85"
    )
    assert bench.cpu_seconds() > 0 and bench.cpu_seconds(os.getpid()) > 0
