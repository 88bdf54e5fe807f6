"""The whole pipeline on the secured stack: publish -> vectorize -> sink -> search -> check.

Every hop speaks TLS with the credentials `imgsim-stack up` wrote for it (SASL/SCRAM to Kafka,
a role's user or key to Elasticsearch, basic auth to Connect's REST API), as a user's own
deployment does; then each component refuses a request without credentials, and no secret shows
up where people and scrapers look: logs, `/metrics`, `/health`, error responses, command lines.
"""

import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from imgsim_cli import child_argv
from imgsim_common import names
from imgsim_stack import credentials
from PIL import Image

from tests.stack.secured_fixtures import SecuredStack
from tests.support import eventually, free_port

pytestmark = [pytest.mark.integration, pytest.mark.secured, pytest.mark.slow]

PAINTINGS = 6
# The checker's second login, the one that may delete (imgsim_stack.elasticsearch_keys).
ADMIN_LOGIN = "INDEXER_CHECK_ELASTICSEARCH_ADMIN_"
ERR = 6  # `imgsim check`'s exit code for ERR
ONNX_CACHE = Path(__file__).resolve().parents[2] / ".stack" / "test-onnx-cache"


def _paint(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    names = []
    for i in range(count):
        pixels = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).resize((192, 144), Image.Resampling.BILINEAR)
        name = f"secured-{i}.jpg"
        image.save(folder / name, quality=90)
        names.append(name)
    return names


def _secrets(stack: SecuredStack) -> list[str]:
    """Every secret the launcher made: none of them may show up anywhere below."""
    found = [p.read_text().strip() for p in stack.secrets_dir.iterdir() if p.is_file()]
    secrets = [s for s in found if len(s) >= 8]
    assert secrets, f"no secrets under {stack.secrets_dir}"
    return secrets


class Services:
    """The worker, the search API and the checker as processes, with their logs."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env, self.folder = env, folder
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        self.ports: dict[str, int] = {}

    def start(self, name: str, argv: list[str], **env: str) -> None:
        log = self.folder / f"{name}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.processes.append(
                subprocess.Popen(
                    argv,
                    env={**self.env, **env},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def services(secured_stack: SecuredStack, tmp_path: Path) -> Iterator[Services]:
    env = {**os.environ, **secured_stack.client_env}
    running = Services(env, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def _get(url: str, **options: Any) -> httpx.Response:
    return httpx.get(url, timeout=10, **options)


def test_the_pipeline_runs_secured_and_leaks_no_secret(
    secured_stack: SecuredStack, services: Services, tmp_path: Path, run_tag: str
) -> None:
    images = tmp_path / "images"
    painted = _paint(images, PAINTINGS)
    worker_metrics, api_port, checker_port = free_port(), free_port(), free_port()
    services.start(
        "worker",
        child_argv("worker"),
        VECTORIZER_IMAGE_ROOT=str(images),
        VECTORIZER_DATA_DIR=str(tmp_path / "faust"),
        VECTORIZER_WEIGHTS="random",
        VECTORIZER_BACKEND="onnx",
        VECTORIZER_ONNX_CACHE_DIR=str(ONNX_CACHE),
        VECTORIZER_BATCH_SIZE="8",
        VECTORIZER_BATCH_TIMEOUT_S="0.5",
        VECTORIZER_METRICS_PORT=str(worker_metrics),
        VECTORIZER_EMBEDDING_PORT="0",
    )
    published = subprocess.run(
        child_argv("publish", str(images), "--no-progress"),
        env=services.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert published.returncode == 0, published.stdout + published.stderr
    services.start(
        "search-api",
        [sys.executable, "-m", "uvicorn", "imgsim_search_api.app:create_app", "--factory"]
        + ["--port", str(api_port), "--log-level", "info"],
        SEARCH_API_IMAGE_ROOT=str(images),
        SEARCH_API_UPLOAD_ENABLED="false",
        SEARCH_API_CHECKER_URL=f"http://127.0.0.1:{checker_port}",
    )
    services.start(
        "checker",
        [sys.executable, "-m", "imgsim_indexer_check"],
        INDEXER_CHECK_PORT=str(checker_port),
        INDEXER_CHECK_POLL_INTERVAL_S="1",
    )
    api = f"http://127.0.0.1:{api_port}"

    def all_searchable() -> list[str] | None:
        try:
            listing = _get(f"{api}/paintings", params={"size": 50}).json()
        except (httpx.HTTPError, ValueError):
            return None
        ids = sorted(p["id"] for p in listing.get("paintings", []))
        # A reused secured stack holds this test's paintings of earlier runs under the same ids.
        return ids if set(painted) <= set(ids) else None

    eventually(all_searchable, 240, "every painting searchable")
    similar = _get(f"{api}/similar/{painted[0]}", params={"k": 3})
    assert similar.status_code == 200, similar.text
    assert len(similar.json()["results"]) == 3

    # The checker's judgement, through its credentials: nothing missing, extra or stale.
    def reconciled() -> dict[str, Any] | None:
        checked = subprocess.run(
            child_argv("check", "--reconcile", "--json"),
            env=services.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        report = json.loads(checked.stdout) if checked.stdout.strip() else {}
        found = report.get("reconciliation") or {}
        counts = [found.get(k) for k in ("missing", "extra", "stale", "unresolved")]
        return report if checked.returncode == 0 and counts == [0, 0, 0, 0] else None

    report = eventually(reconciled, 120, "the checker's reconciliation reports nothing lost")
    assert report["reconciliation"]["indexed"] >= PAINTINGS
    repairs = _only_the_admin_login_deletes_extra_documents(secured_stack, services.env, run_tag)

    checker = f"http://127.0.0.1:{checker_port}"
    health = eventually(lambda: _ok(f"{checker}/health"), 60, "the checker serving /health")
    relayed = eventually(lambda: _ok(f"{api}/ingestion/health"), 60, "the API relaying /health")
    assert json.loads(relayed).keys() == json.loads(health).keys()
    ready = _get(f"{api}/readyz")
    assert ready.json()["status"] == "ready", ready.text

    # Where a secret could leak: logs, /metrics, /health, error answers, command lines.
    exposed = {
        "worker /metrics": _get(f"http://127.0.0.1:{worker_metrics}/metrics").text,
        "search API /metrics": _get(f"{api}/metrics").text,
        "checker /metrics": _get(f"{checker}/metrics").text,
        "checker /health": health,
        "search API /readyz": ready.text,
        "search API /ingestion/health": relayed,
        "a 400": _get(f"{api}/similar/{painted[0]}", params={"representation": "nope"}).text,
        "a 404": _get(f"{api}/paintings/no-such-painting").text,
        "an admin action without a token": httpx.post(f"{checker}/repair", timeout=30).text,
        "publish output": published.stdout + published.stderr,
        "repair output": repairs,
        "command lines": subprocess.run(
            ["ps", "-eo", "args"], capture_output=True, text=True, check=True
        ).stdout,
    }
    services.stop()
    exposed |= {log.name: log.read_text(errors="replace") for log in services.logs}
    for secret in _secrets(secured_stack):
        for where, text in exposed.items():
            assert secret not in text, f"a secret of {secured_stack.secrets_dir} is in {where}"


def _as_admin(stack: SecuredStack) -> httpx.Client:
    """Elasticsearch as the checker's administration login: its API key, or its file-realm user
    on the launcher's own Elasticsearch (which makes no API keys)."""
    env = stack.client_env

    def secret(name: str) -> str:
        return credentials.read_secret(Path(env[f"{ADMIN_LOGIN}{name}"]))

    login: dict[str, Any] = (
        {"headers": {"Authorization": f"ApiKey {secret('API_KEY_FILE')}"}}
        if f"{ADMIN_LOGIN}API_KEY_FILE" in env
        else {"auth": (env[f"{ADMIN_LOGIN}USERNAME"], secret("PASSWORD_FILE"))}
    )
    verify = ssl.create_default_context(cafile=str(stack.ca_file))
    return httpx.Client(base_url=stack.elasticsearch_url, verify=verify, timeout=15, **login)


def _only_the_admin_login_deletes_extra_documents(
    stack: SecuredStack, env: dict[str, str], run_tag: str
) -> str:
    """`imgsim check --repair --delete-extra` on a document no record accounts for: refused
    (403) with the checker's read-only login alone, done with its administration login.
    Returns what both runs printed, for the leak check."""
    extra = f"{run_tag}-extra.jpg"
    document = f"/{names.BASE_PIPELINE.index}/_doc/{extra}"

    def repair(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        argv = child_argv("check", "--repair", "--delete-extra", "--json")
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)

    with _as_admin(stack) as admin:
        put = admin.put(
            document, params={"refresh": "true"}, json={"id": extra, "metadata": {"title": "x"}}
        )
        assert put.status_code == 201, put.text
        try:
            read_only = {k: v for k, v in env.items() if not k.startswith(ADMIN_LOGIN)}
            refused = repair(read_only)
            assert refused.returncode == ERR, refused.stdout + refused.stderr
            said = " ".join(refused.stderr.split())  # rich wraps it; librdkafka may log first
            assert "error: Elasticsearch refused 1 deletion(s), e.g. 403" in said, said
            assert admin.get(document).status_code == 200, "deleted without the admin login"

            deleted = repair(env)
            assert deleted.returncode == 0, deleted.stdout + deleted.stderr
            result = json.loads(deleted.stdout)
            assert (result["done"], len(result["actions"])) == ({"delete": 1}, 1), result
            assert admin.get(document).status_code == 404
        finally:
            admin.delete(document, params={"refresh": "true"})
    return "".join(run.stdout + run.stderr for run in (refused, deleted))


def _ok(url: str) -> str | None:
    try:
        answer = _get(url)
    except httpx.HTTPError:
        return None
    return answer.text if answer.status_code == 200 else None


def test_each_component_refuses_a_client_without_credentials(
    secured_stack: SecuredStack,
) -> None:
    ca = secured_stack.ca_file
    elasticsearch = _get(
        secured_stack.elasticsearch_url, verify=ssl.create_default_context(cafile=str(ca))
    )
    assert elasticsearch.status_code == 401
    connect = _get(f"{secured_stack.connect_url}/connectors")
    assert connect.status_code == 401
    # Kafka: a client that speaks plaintext, then one with TLS but no SASL, get no metadata.
    for config in (
        {"bootstrap.servers": secured_stack.bootstrap_servers},
        {
            "bootstrap.servers": secured_stack.bootstrap_servers,
            "security.protocol": "ssl",
            "ssl.ca.location": str(ca),
        },
    ):
        admin = AdminClient({**config, "log_level": 0})
        started = time.monotonic()
        with pytest.raises(KafkaException):
            admin.list_topics(timeout=5)
        assert time.monotonic() - started < 30
