"""`imgsim evaluate` end to end against a fake search API under uvicorn whose answers are made
to be known (tests.cli.evaluate_fake_api.py)."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from imgsim_cli.main import main
from imgsim_common.model_card import Head, HeadClass, backbone_card
from starlette.applications import Starlette

from tests.cli.evaluate_fake_api import STYLES, FakeApi, Painting, collection, write_set
from tests.support import serving


@pytest.fixture
def painted(tmp_path: Path) -> tuple[Path, Path, list[Painting]]:
    paintings = collection()
    return tmp_path, write_set(tmp_path, paintings), paintings


Evaluate = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def evaluate(
    painted: tuple[Path, Path, list[Painting]], tmp_path: Path
) -> Iterator[Callable[..., tuple[int, dict[str, Any]]]]:
    """Runs `imgsim evaluate` against a fake API made with these settings; its exit status and
    its JSON report."""
    root, metadata, paintings = painted

    def run(*argv: str, fake: FakeApi | None = None) -> tuple[int, dict[str, Any]]:
        with serving((fake or FakeApi(paintings)).app()) as url:
            report = tmp_path / "report.json"
            code = main(
                [
                    "evaluate",
                    "--images",
                    str(root),
                    "--metadata",
                    str(metadata),
                    "--api",
                    url,
                    "--json",
                    str(report),
                    "--no-progress",
                    "--robustness",
                    "6",
                    *argv,
                ]
            )
        return code, json.loads(report.read_text()) if report.exists() else {}

    yield run


def result(report: dict[str, Any], representation: str, metric: str) -> dict[str, Any]:
    found = [
        r
        for r in report["results"]
        if r["representation"] == representation and r["metric"] == metric
    ]
    assert len(found) == 1
    row: dict[str, Any] = found[0]
    return row


def test_neighbours_perfect_by_style_score_one_and_random_ones_score_chance(
    evaluate: Evaluate, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = evaluate()

    assert code == 0
    assert report["set"]["split"] == "in_train"
    # 2 held-out paintings of each seen artist, 5 of each unseen one, in 3 styles.
    assert report["set"]["queries"] == 3 * (2 * 2 + 2 * 5)
    assert report["set"]["candidates"] == 60
    trained = result(report, "style_trained", "cosine")
    assert trained["kind"] == "trained"
    assert trained["retrieval"]["precision"]["style"] == 1.0
    assert trained["retrieval"]["map"]["style"] == 1.0
    # 19 of the 59 other paintings share a query's style.
    chance = 19 / 59
    backbone = result(report, "global", "l2")["retrieval"]["precision"]["style"]
    assert backbone == pytest.approx(chance, abs=0.08)
    baseline = report["random_baseline"]
    assert baseline["retrieval"]["precision"]["style"] == pytest.approx(chance, abs=0.03)
    assert baseline["expected_precision"]["style"] == pytest.approx(chance)
    # Same artist: 4 of the 59 others.
    assert baseline["retrieval"]["precision"]["artist"] == pytest.approx(4 / 59, abs=0.02)
    table = capsys.readouterr().out
    assert "style_trained" in table and "random" in table
    assert "trained / untrained P@10 style" in table


def test_pair_auc_is_reported_apart_for_seen_and_unseen_artists(evaluate: Evaluate) -> None:
    code, report = evaluate()

    assert code == 0
    for metric in ("cosine", "l2"):
        auc = result(report, "style_trained", metric)["pair_auc"]
        # Seen artists' vectors are their style and artist: every pair is told apart.
        assert auc["style"]["seen"]["auc"] == 1.0
        assert auc["artist"]["seen"]["auc"] == 1.0
        # Unseen artists' vectors are noise.
        assert auc["style"]["unseen"]["auc"] == pytest.approx(0.5, abs=0.12)
        # 6 seen artists x 2 held-out paintings; 6 unseen x 5.
        assert auc["style"]["seen"]["paintings"] == 12
        assert auc["style"]["unseen"]["pairs"] == 30 * 29 // 2
    random_auc = report["random_baseline"]["pair_auc"]["style"]["all"]["auc"]
    assert random_auc == pytest.approx(0.5, abs=0.1)


def test_altered_copies_find_the_original_where_the_api_finds_it(evaluate: Evaluate) -> None:
    code, report = evaluate()

    assert code == 0
    assert report["robustness"]["skipped"] is None
    # 6 paintings, 3 variants, both metrics.
    assert sum(report["robustness"]["uploads"].values()) == 6 * 3 * 2
    assert result(report, "style_trained", "cosine")["robustness"]["rank1"] == 1.0
    assert result(report, "global", "l2")["robustness"]["rank1"] == 0.0


def test_an_upload_search_that_refuses_is_skipped_with_its_reason(
    evaluate: Evaluate, painted: tuple[Path, Path, list[Painting]]
) -> None:
    code, report = evaluate(fake=FakeApi(painted[2], upload="409"))

    assert code == 0
    assert "409" in report["robustness_skipped"]
    assert "upload refused" in report["robustness_skipped"]
    assert result(report, "style_trained", "cosine")["robustness"] is None


def test_an_upload_model_still_loading_is_waited_for(
    evaluate: Evaluate, painted: tuple[Path, Path, list[Painting]]
) -> None:
    fake = FakeApi(painted[2], loading=1)

    code, report = evaluate("--queries", "5", "--robustness", "2", fake=fake)

    assert code == 0
    assert fake.loading == 0
    assert report["robustness_skipped"] is None
    assert result(report, "style_trained", "l2")["robustness"]["rank1"] == 1.0


def test_a_representation_is_searched_only_by_the_metrics_it_is_mapped_for(
    evaluate: Evaluate, painted: tuple[Path, Path, list[Painting]]
) -> None:
    fake = FakeApi(painted[2], l2_for_global=False)

    code, report = evaluate("--queries", "5", "--robustness", "0", fake=fake)

    assert code == 0
    rows = {(r["representation"], r["metric"]) for r in report["results"]}
    assert rows == {("style_trained", "cosine"), ("style_trained", "l2"), ("global", "cosine")}
    assert sorted(set(fake.asked)) == ["cosine:style_trained,global", "l2:style_trained"]
    assert len(fake.asked) == 5 * 2
    assert report["robustness_skipped"] == "not asked (--robustness 0)"


def test_paintings_missing_from_the_index_end_with_status_1(
    evaluate: Evaluate,
    painted: tuple[Path, Path, list[Painting]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    paintings = painted[2]
    fake = FakeApi(paintings, indexed={p.id for p in paintings[3:]})

    code, _ = evaluate(fake=fake)

    assert code == 1
    error = capsys.readouterr().err
    assert "3 of the 60 paintings" in error and "imgsim ingest" in error
    code, report = evaluate("--allow-missing", fake=fake)
    assert code == 0
    assert report["set"]["missing_from_index"] == 3
    assert report["set"]["candidates"] == 57


def test_an_unreachable_api_ends_with_status_1(
    painted: tuple[Path, Path, list[Painting]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, metadata, _ = painted
    with serving(Starlette()) as url:
        pass  # the port is free again: nothing listens there now

    code = main(["evaluate", "--images", str(root), "--metadata", str(metadata), "--api", url])

    assert code == 1
    assert "cannot reach the search API" in capsys.readouterr().err


def test_bad_arguments_end_with_status_2(
    painted: tuple[Path, Path, list[Painting]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, metadata, _ = painted
    args = ["evaluate", "--images", str(root), "--metadata", str(metadata)]

    assert main(["evaluate", "--images", str(root / "nowhere"), "--metadata", str(metadata)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main([*args, "--queries", "0"]) == 2
    assert main([*args, "-k", "0"]) == 2
    (root / "other.csv").write_text("filename,style\na.png,Cubism\n")
    assert main(["evaluate", "--images", str(root), "--metadata", str(root / "other.csv")]) == 2
    assert "new_filename" in capsys.readouterr().err
    assert main([*args, "--model", str(root)]) == 2
    assert "no model card" in capsys.readouterr().err
    assert main([*args, "--json", str(root / "nowhere" / "report.json")]) == 2
    assert "nowhere is not a folder" in capsys.readouterr().err


def test_an_unknown_representation_is_refused_with_the_known_ones(
    evaluate: Evaluate, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = evaluate("--representations", "style_trained,nonesuch")

    assert code == 2
    assert "nonesuch" in capsys.readouterr().err


def test_the_model_cards_accuracy_per_head_is_shown(
    evaluate: Evaluate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    heads = [
        Head(
            name=name,
            column=name,
            classes=[HeadClass(name=c, train=8, validation=2) for c in classes],
            min_count=3,
            accuracy=accuracy,
            balanced_accuracy=accuracy - 0.1,
        )
        for name, classes, accuracy in (("style", STYLES, 0.875), ("genre", ("a", "b"), 0.625))
    ]
    card = backbone_card("MobileNetV3Large", 224, "random", "v1").model_copy(
        update={"heads": heads}
    )
    card.save(model_dir)

    code, report = evaluate("--model", str(model_dir), "--robustness", "0")

    assert code == 0
    assert [(h["name"], h["accuracy"], h["classes"]) for h in report["heads"]] == [
        ("style", 0.875, 3),
        ("genre", 0.625, 2),
    ]
    out = capsys.readouterr().out
    assert "Classification per head" in out
    assert "0.875" in out and "0.525" in out
