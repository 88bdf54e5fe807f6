"""The hostile-input corpus's requests (tests/faults/hostile_requests.py) against the real search
API with every `Accept` type: each gets a status its case allows, every error is the API's JSON,
nothing is served from outside the image root and the API keeps answering. And the one hostile
file root cannot make: a file the process may not read, decoded as an unprivileged user."""

import os
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from imgsim_common.rejections import ImageRejected
from imgsim_stack.settings import StackSettings
from imgsim_vision.images import decode_image

from tests.faults.hostile_requests import ACCEPTS, REQUESTS, HostileRequest
from tests.faults.report import HostileOutcome, Recorder
from tests.search_api.fixtures import ApiServer, SearchIndex, start_api
from tests.support import ONNX_CACHE, eventually, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.faults]

PASSWD = Path("/etc/passwd").read_bytes()


def _problems(case: HostileRequest, accept: str, response: httpx.Response) -> list[str]:
    found = []
    if response.status_code not in case.expected:
        found.append(f"status {response.status_code}, expected {sorted(case.expected)}")
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("error"), str):
            found.append(f"an error that is not the API's JSON: {response.text[:120]!r}")
    if PASSWD[:64] in response.content or b"root:x:0:0" in response.content:
        found.append("served /etc/passwd")
    return [f"{case.label} (Accept {accept}): {problem}" for problem in found]


@pytest.fixture(scope="module")
def api_with_uploads(
    stack: StackSettings,
    search_index: SearchIndex,
    image_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ApiServer]:
    """The search API on the test index, its uploads vectorized by the real embedding endpoint
    (`python -m imgsim_vectorizer.embedding_server`, the vectorizer's own decoding and refusals)."""
    port = free_port()
    log = tmp_path_factory.mktemp("hostile-embedding") / "endpoint.log"
    env = {
        **os.environ,
        "VECTORIZER_WEIGHTS": "random",
        "VECTORIZER_BACKEND": "onnx",
        "VECTORIZER_ONNX_CACHE_DIR": str(ONNX_CACHE),
        "VECTORIZER_EMBEDDING_PORT": str(port),
        "VECTORIZER_METRICS_PORT": "0",
    }
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        endpoint = subprocess.Popen(
            [sys.executable, "-m", "imgsim_vectorizer.embedding_server"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def answers() -> bool:
        assert endpoint.poll() is None, log.read_text()
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    server = None
    try:
        eventually(answers, 240, f"the embedding endpoint at {url}")
        server = start_api(stack.elasticsearch, search_index.name, image_root, embedding_url=url)
        yield server
    finally:
        if server is not None:
            server.stop()
        os.killpg(endpoint.pid, signal.SIGTERM)
        endpoint.wait(30)


def test_every_hostile_request_gets_its_answer_with_every_accept_type(
    api_with_uploads: ApiServer, fault_report: Recorder
) -> None:
    api = api_with_uploads
    problems: list[str] = []
    with httpx.Client(base_url=api.url, timeout=60) as client:
        for case in REQUESTS:
            statuses = set()
            for accept in ACCEPTS:
                request = client.build_request(
                    case.method, case.path, headers={"Accept": accept}, **case.options
                )
                # The path as written: httpx would otherwise normalise `..` and encodings.
                request.url = request.url.copy_with(raw_path=case.path.encode())
                response = client.send(request)
                statuses.add(response.status_code)
                problems += _problems(case, accept, response)
            fault_report.hostile.append(
                HostileOutcome(
                    f"request {case.label}: {case.method} {case.path[:60]}",
                    " or ".join(map(str, sorted(case.expected))),
                    " / ".join(map(str, sorted(statuses))),
                )
            )
        assert client.get("/healthz").status_code == 200, "the API still answers"
    assert not problems, "\n".join(problems)
    assert len(REQUESTS) >= 40


UNPRIVILEGED = 65534  # nobody: root reads any file, so the case needs another user


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_a_file_the_worker_may_not_read_is_unreadable_not_a_crash() -> None:
    folder = Path(tempfile.mkdtemp(prefix="imgsim-unreadable-"))
    try:
        folder.chmod(0o755)
        locked = folder / "locked.jpg"
        locked.write_bytes(b"\xff\xd8\xff\xe0 whatever is inside cannot be read")
        locked.chmod(0)
        assert not locked.stat().st_mode & (stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        # Ingestion's own decoding, as the worker calls it, in a child that gave up root (the
        # interpreter is not one an unprivileged user could start: the child is forked).
        reading, writing = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child process
            outcome = "decoded"
            try:
                os.setgid(UNPRIVILEGED)
                os.setuid(UNPRIVILEGED)
                decode_image(locked, 224, 1 << 24, 1 << 26)
            except ImageRejected as e:
                outcome = e.reason.value
            except BaseException as e:  # noqa: BLE001 - reported to the parent, which fails
                outcome = f"{type(e).__name__}: {e}"
            os.write(writing, outcome.encode())
            os._exit(0)
        os.close(writing)
        _, status = os.waitpid(child, 0)
        with os.fdopen(reading, "rb") as answer:
            outcome = answer.read().decode()
        assert os.waitstatus_to_exitcode(status) == 0
        assert outcome == "unreadable"
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
