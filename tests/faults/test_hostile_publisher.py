"""The hostile files where the publisher decides, through the real publisher (the module behind
`imgsim publish` and `make publish`: `scan`, then `publish` with the command's producer settings)
and a real worker: each file is refused with a reason in the publisher's summary, or published
and given its outcome by the worker; no file under the image root goes unaccounted for."""

import os
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from elasticsearch import Elasticsearch
from imgsim_vectorizer import publisher

from tests.faults.hostile import FILES, INDEXED
from tests.faults.hostile_publishing import LISTED, NOT_SCANNED, PUBLISHED, SCANNED
from tests.faults.report import HostileOutcome, Recorder
from tests.faults.rig import FaultRig

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]


def files_under(root: Path) -> set[str]:
    """Every entry under `root` that is not a folder (files, links, FIFOs), as the relative
    names Python gives them; listed by find(1), not by the publisher's own walk."""
    listing = subprocess.run(
        ["find", str(root), "-mindepth", "1", "!", "-type", "d", "-printf", "%P\\0"],
        check=True,
        capture_output=True,
    ).stdout
    return {os.fsdecode(name) for name in listing.split(b"\0") if name}


def test_the_publisher_refuses_or_publishes_each_hostile_file_and_loses_none(
    fault_rig: FaultRig, es: Elasticsearch, fault_report: Recorder, tmp_path: Path
) -> None:
    root = fault_rig.image_root
    cases = {case.name: case for case in FILES if case.name in SCANNED.keys() | LISTED.keys()}
    assert cases.keys() == SCANNED.keys() | LISTED.keys(), "every name is a corpus case"
    for case in cases.values():
        case.make(root, root / case.name)
    # As `imgsim publish` configures its producer (imgsim_vectorizer/commands.py).
    producer = Producer(
        {
            "bootstrap.servers": fault_rig.check.stack.bootstrap_servers,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 20,
            "compression.type": "lz4",
        }
    )
    topic = fault_rig.check.image_paths_topic

    found = publisher.scan(root)
    summary = publisher.publish(producer, topic, found)
    refusals = {skipped.path: skipped.reason for skipped in summary.skipped}
    published = [path for path in found.paintings if path not in refusals]
    assert (summary.failed, summary.first_error, summary.unknown_files) == (0, None, 0)
    assert summary.published == len(published)
    # Nothing lost silently: every file under the root is published or refused with a reason.
    assert files_under(root) == set(published) | refusals.keys()
    decided = {
        name: PUBLISHED if name in published else refusals.get(name, NOT_SCANNED)
        for name in SCANNED
    }
    wrong = {
        name: (want, decided[name]) for name, want in SCANNED.items() if want not in decided[name]
    }

    listed = tmp_path / "list.txt"
    listed.write_text("".join(f"{name}\n" for name in LISTED))
    by_list = publisher.publish(producer, topic, publisher.scan(root, listed))
    list_refusals = {skipped.path: skipped.reason for skipped in by_list.skipped}
    assert (by_list.published, by_list.failed) == (0, 0)
    wrong |= {
        f"--list {name}": (want, list_refusals.get(name, PUBLISHED))
        for name, want in LISTED.items()
        if want not in list_refusals.get(name, PUBLISHED)
    }
    # A list file that is not UTF-8 is refused whole: `imgsim publish` says it cannot read it.
    bad_list = tmp_path / "latin-1.txt"
    bad_list.write_bytes(b"files/caf\xe9.jpg\n")
    with pytest.raises(ValueError, match="utf-8"):
        publisher.scan(root, bad_list)

    worker = fault_rig.start_worker()
    started = time.monotonic()
    expected = {path: cases[path].expected for path in published}
    letters = fault_rig.dead_letters(sum(outcome != INDEXED for outcome in expected.values()))
    wrong |= {
        name: (want, letters.get(name, INDEXED))
        for name, want in expected.items()
        if letters.get(name, INDEXED) != want
    }
    fault_report.hostile += [
        HostileOutcome(
            f"publish {name[:60]!r}",
            want if want != PUBLISHED else f"published, then {cases[name].expected}",
            decided[name]
            if decided[name] != PUBLISHED
            else f"published, then {letters.get(name, INDEXED)}",
        )
        for name, want in SCANNED.items()
    ] + [
        HostileOutcome(f"publish --list {name[:60]!r}", want, list_refusals.get(name, PUBLISHED))
        for name, want in LISTED.items()
    ]
    assert wrong == {}, wrong
    fault_rig.judge(
        published, es, 240, {name: out for name, out in expected.items() if out != INDEXED}
    )
    assert worker.poll() is None, "the worker survived every published case"
    assert time.monotonic() - started < 240, "no case held the worker up"
