"""The real Prometheus (Debian's) scraping the real services, and every query of the Grafana
dashboard answered by it.

One pipeline of the test's own: image paths -> a real vectorizer worker -> the test's paintings
topic -> its own sink connector -> its own index, a search API on that index, and the checker
service watching it all. Prometheus is started by the launcher's own component, on a scrape
configuration from the same generator as docker-compose's and the native stack's.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from imgsim_indexer_check.settings import IndexerCheckSettings
from imgsim_stack.artifacts import installation
from imgsim_stack.prometheus import (
    COMPOSE_CONFIG,
    Prometheus,
    ScrapeJob,
    native_jobs,
    scrape_config,
)
from imgsim_stack.settings import StackSettings
from PIL import Image

from tests.indexer_check.fixtures import CheckRig
from tests.search_api.fixtures import ApiServer, start_api
from tests.stack.dashboard import expressions, load_dashboard
from tests.support import eventually, free_port
from tests.vectorizer.fixtures import WorkerRig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROMETHEUS_MISSING = "Debian's prometheus is needed here (apt-get install -y prometheus)"
SCRAPE_INTERVAL = "1s"
# What Grafana puts in place of its variables, for a 1 s scrape interval.
GRAFANA_VARIABLES = {"$__rate_interval": "10s", "$__interval": "1s", "$__range": "5m"}
IMAGES, MISSING = 4, 1  # published images with a file, and without one (a dead letter)


@dataclass
class PipelineWorker(WorkerRig):
    """A real worker on the check rig's topics and group, so the checker watches it."""

    output_topic: str = ""
    group: str = ""

    @property
    def env(self) -> dict[str, str]:
        return {
            **super().env,
            "VECTORIZER_OUTPUT_TOPIC": self.output_topic,
            "VECTORIZER_CONSUMER_GROUP": self.group,
        }


@dataclass
class Observed:
    rig: CheckRig
    prometheus: Prometheus
    metrics_urls: dict[str, str]  # job -> the service's /metrics
    api: ApiServer
    image_root: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = httpx.get(
            f"{self.prometheus.url}/api/v1/query", params={"query": expr}, timeout=10
        ).json()
        assert answer["status"] == "success", f"{expr}: {answer}"
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _paint(root: Path, ids: list[str]) -> None:
    rng = np.random.default_rng(3)
    for painting_id in ids:
        (root / painting_id).parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / painting_id, quality=90)


def _checker_environment(rig: CheckRig, port: int, dead_letter_topic: str) -> dict[str, str]:
    wanted: dict[str, Any] = {"host": "127.0.0.1", "port": port, "poll_interval_s": 0.5}
    # Set only what this checker has: reconciliation came in a later change than lag.
    optional = {"reconcile_interval_s": 2, "dead_letter_topic": dead_letter_topic}
    wanted |= {k: v for k, v in optional.items() if k in IndexerCheckSettings.model_fields}
    return {**os.environ, **rig.environment(rig.settings(**wanted))}


def _wait_http(url: str, process: subprocess.Popen[bytes], what: str, timeout_s: float) -> None:
    def answered() -> bool:
        assert process.poll() is None, f"{what} exited with {process.returncode}"
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    eventually(answered, timeout_s, what)


@pytest.fixture
def observed(
    stack: StackSettings,
    check_rig: CheckRig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Observed]:
    if shutil.which("prometheus") is None:
        pytest.fail(PROMETHEUS_MISSING)
    rig = check_rig
    dead_letter_topic = f"test-{rig.tag}-image-paths-dlq"
    admin = AdminClient({"bootstrap.servers": stack.bootstrap_servers})
    for future in admin.create_topics([NewTopic(dead_letter_topic, 1, 1)]).values():
        future.result(30)
    processes: list[subprocess.Popen[bytes]] = []
    api: ApiServer | None = None
    prometheus: Prometheus | None = None
    try:
        worker_port, checker_port = free_port(), free_port()
        worker = PipelineWorker(
            stack=stack,
            image_root=tmp_path / "images",
            tag=rig.tag,
            input_topic=rig.image_paths_topic,
            dead_letter_topic=dead_letter_topic,
            output_topic=rig.paintings_topic,
            group=rig.vectorizer_group,
        )
        worker.image_root.mkdir()
        processes.append(worker.start(tmp_path / "worker.log", metrics_port=worker_port))
        with (tmp_path / "checker.log").open("ab") as log:
            checker = subprocess.Popen(
                [sys.executable, "-m", "imgsim_indexer_check"],
                env=_checker_environment(rig, checker_port, dead_letter_topic),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append(checker)
        # Upload search would load a model in the background: not what this test watches.
        monkeypatch.setenv("SEARCH_API_UPLOAD_ENABLED", "false")
        api = start_api(stack.elasticsearch, rig.alias, worker.image_root)
        api_port = int(api.url.rpartition(":")[2])
        ports = {"vectorizer": worker_port, "search-api": api_port, "indexer-check": checker_port}
        # Prometheus with data and a port of this test's own.
        settings = stack.model_copy(
            update={"state_dir": tmp_path / "stack", "prometheus_port": free_port()}
        )
        jobs = [ScrapeJob(job, ["127.0.0.1"], port) for job, port in ports.items()]
        jobs.append(ScrapeJob("prometheus", ["127.0.0.1"], settings.prometheus_port))
        prometheus = Prometheus(settings, installation(settings), jobs, SCRAPE_INTERVAL)
        prometheus.prepare()
        prometheus.process.spawn(prometheus.command(), prometheus.environment(), prometheus.home)
        prometheus.process.wait_until(prometheus.healthy, 30)
        _wait_http(f"http://127.0.0.1:{checker_port}/healthz", checker, "the checker", 60)
        yield Observed(
            rig,
            prometheus,
            {job: f"http://127.0.0.1:{port}/metrics" for job, port in ports.items()},
            api,
            worker.image_root,
        )
    finally:
        if prometheus is not None:
            prometheus.process.stop(timeout_s=15)
        if api is not None:
            api.stop()
        for process in processes:
            _stop(process)
        for future in admin.delete_topics([dead_letter_topic]).values():
            future.result(30)


def _grafana_to_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a Grafana variable this test does not know: {expr}"
    return expr


def _publish(observed: Observed) -> None:
    """IMAGES paintings with a file, then one without (the worker dead-letters it as
    `missing`). Files first: the worker may read a record as soon as it is published."""
    rig = observed.rig
    _paint(observed.image_root, [f"{rig.tag}/painting-{i:05d}.jpg" for i in range(IMAGES)])
    rig.publish(IMAGES + MISSING)


def _unanswered(observed: Observed) -> list[str]:
    queries = [_grafana_to_promql(e) for e in expressions(load_dashboard())]
    return [expr for expr in queries if not observed.query(expr)]


def test_prometheus_scrapes_every_service_and_answers_every_dashboard_query(
    observed: Observed,
) -> None:
    started = time.monotonic()
    _publish(observed)

    def answered() -> bool:
        # The API's request counters and latency histogram exist once it has had requests.
        with httpx.Client(base_url=observed.api.url, timeout=5) as http:
            http.get("/paintings", params={"size": 2})
            http.get(f"/paintings/{uuid.uuid4().hex}")  # 404
        return not _unanswered(observed)

    try:
        eventually(answered, 90, "every dashboard query returns a series")
    except AssertionError:
        raise AssertionError(f"queries without a series: {_unanswered(observed)}") from None
    print(f"every dashboard query answered {time.monotonic() - started:.1f} s after publishing")

    # The figures are the pipeline's, not merely present.
    alias = observed.rig.alias
    eventually(
        lambda: observed.value(f'imgsim_indexer_check_documents{{alias="{alias}"}}') == IMAGES,
        60,
        f"{IMAGES} documents counted in {alias}",
    )
    assert observed.value('imgsim_vectorizer_failures_total{reason="missing"}') == MISSING
    assert observed.value('sum(imgsim_vectorizer_images_total{outcome="vectorized"})') == IMAGES
    if "dead_letter_topic" in IndexerCheckSettings.model_fields:
        eventually(
            lambda: (
                observed.value('sum(imgsim_indexer_check_dead_letters{reason="missing"})')
                == MISSING
            ),
            30,
            "the checker's reconciliation counts the dead letter",
        )
    for job in ("vectorizer", "search-api", "indexer-check", "prometheus"):
        assert observed.value(f'up{{job="{job}"}}') == 1, job

    # Another stack's launcher (another state directory) does not take it for its own.
    ours = observed.prometheus
    elsewhere = ours.settings.model_copy(update={"state_dir": observed.image_root / "elsewhere"})
    assert ours.healthy()
    assert not Prometheus(elsewhere, installation(elsewhere)).healthy()

    # Each service's exposition, with its labelled series present, passes promtool's lint.
    for job, url in observed.metrics_urls.items():
        text = httpx.get(url, timeout=5).text
        checked = subprocess.run(
            ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert checked.returncode == 0 and not checked.stdout.strip(), (
            f"{job}: {checked.stdout}{checked.stderr}"
        )


def test_promtool_accepts_the_compose_and_native_configs(tmp_path: Path) -> None:
    if shutil.which("promtool") is None:
        pytest.fail(PROMETHEUS_MISSING)
    native = tmp_path / "native.yml"
    native.write_text(scrape_config(native_jobs(StackSettings())))
    short = tmp_path / "short.yml"
    short.write_text(scrape_config([ScrapeJob("x", ["127.0.0.1"], 1)], "500ms"))

    for config in (COMPOSE_CONFIG, native, short):
        checked = subprocess.run(
            ["promtool", "check", "config", str(config)], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
