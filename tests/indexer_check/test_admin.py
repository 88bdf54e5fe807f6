"""The checker's actions (POST /reconcile, /repair, /retry-dead-letters) answer only a caller with
the administration token: none configured, 403 saying how to enable them; a missing or wrong
token, 401 with `WWW-Authenticate: Bearer`; the right one, the action. The token is compared in
constant time and appears in no log, answer or metric."""

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from imgsim_indexer_check import admin
from imgsim_indexer_check.app import create_app
from imgsim_indexer_check.reconcile import Reconciliation
from imgsim_indexer_check.reconciler import RepairResult
from imgsim_indexer_check.settings import IndexerCheckSettings
from pydantic import SecretStr, ValidationError
from starlette.applications import Starlette

from tests.indexer_check.fakes import Components, checker

TOKEN = "adm-7c1f0e9b2d4a-s3cret"
ACTIONS = ["/reconcile", "/repair?dry_run=true", "/retry-dead-letters?reason=missing"]


class FakeReconciler:
    """Records which action ran; answers as the real one does, with nothing found."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, tuple[Any, ...]]] = []

    def _found(self) -> Reconciliation:
        zero = dict.fromkeys(
            (
                "published vectorized indexed dead_lettered removed pending_vectorizing "
                "pending_indexing unresolved missing extra stale"
            ).split(),
            0,
        )
        return Reconciliation(finished_at=0, seconds=0, dead_letters_by_reason={}, **zero)

    def reconcile(self) -> Reconciliation:
        self.ran.append(("reconcile", ()))
        return self._found()

    def repair(self, delete_extra: bool, dry_run: bool) -> RepairResult:
        self.ran.append(("repair", (delete_extra, dry_run)))
        return RepairResult(dry_run=dry_run, actions=[], done={}, reconciliation=self._found())

    def retry_dead_letters(self, reason: str | None, dry_run: bool) -> RepairResult:
        self.ran.append(("retry_dead_letters", (reason, dry_run)))
        return RepairResult(dry_run=dry_run, actions=[], done={}, reconciliation=self._found())

    def close(self) -> None:
        pass


def _app(**overrides: Any) -> tuple[Starlette, FakeReconciler]:
    made, _, _ = checker(Components(), **overrides)
    app = create_app(made.settings, made)
    fake = FakeReconciler()
    app.state.service.reconciler = fake
    return app, fake


def _post(app: Starlette, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://checker") as client:
            if path == "/metrics":
                return await client.get(path)
            return await client.post(path, headers=headers)

    return asyncio.run(call())


@pytest.mark.parametrize("path", ACTIONS)
def test_without_a_token_configured_the_actions_are_refused_and_say_how_to_enable_them(
    path: str,
) -> None:
    app, fake = _app()
    refused = _post(app, path, {"Authorization": "Bearer anything"})
    assert refused.status_code == 403
    assert "INDEXER_CHECK_ADMIN_TOKEN" in refused.json()["error"]
    assert "imgsim check" in refused.json()["error"]
    assert fake.ran == []


@pytest.mark.parametrize("path", ACTIONS)
@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        (None, admin.REALM),
        ("Bearer not-the-token", f'{admin.REALM}, error="invalid_token"'),
        (f"Basic {TOKEN}", f'{admin.REALM}, error="invalid_token"'),
        (f"Bearer {TOKEN}x", f'{admin.REALM}, error="invalid_token"'),
        ("Bearer ", admin.REALM),
    ],
)
def test_a_missing_or_wrong_token_is_a_401_with_a_bearer_challenge(
    path: str, authorization: str | None, challenge: str
) -> None:
    app, fake = _app(admin_token=TOKEN)
    headers = {"Authorization": authorization} if authorization is not None else None
    refused = _post(app, path, headers)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == challenge
    assert fake.ran == []


def test_the_right_token_runs_each_action_with_its_parameters() -> None:
    app, fake = _app(admin_token=TOKEN)
    for path in ACTIONS + ["/repair?delete_extra=true"]:
        answered = _post(app, path, {"Authorization": f"bearer {TOKEN}"})
        assert answered.status_code == 200, answered.text
    assert fake.ran == [
        ("reconcile", ()),
        ("repair", (False, True)),
        ("retry_dead_letters", ("missing", False)),
        ("repair", (True, False)),
    ]
    # The guard comes before the parameters are judged, and lets a bad one through to its 400.
    assert (
        _post(app, "/repair?dry_run=maybe", {"Authorization": f"Bearer {TOKEN}"}).status_code == 400
    )


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return a == b

    monkeypatch.setattr("imgsim_indexer_check.admin.hmac.compare_digest", spy)
    assert admin.matches(TOKEN, SecretStr(TOKEN))
    assert not admin.matches("wrong", SecretStr(TOKEN))
    assert compared == [(TOKEN.encode(), TOKEN.encode()), (b"wrong", TOKEN.encode())]


def test_the_token_is_read_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "admin-token"
    secret.write_text(f"{TOKEN}\n")
    monkeypatch.setenv("INDEXER_CHECK_ADMIN_TOKEN_FILE", str(secret))
    app, fake = _app()  # the fakes' settings read the environment too
    assert _post(app, "/reconcile", {"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert fake.ran == [("reconcile", ())]

    monkeypatch.setenv("INDEXER_CHECK_ADMIN_TOKEN", TOKEN)
    with pytest.raises(ValidationError, match="not both"):
        IndexerCheckSettings()
    monkeypatch.delenv("INDEXER_CHECK_ADMIN_TOKEN")
    secret.unlink()
    with pytest.raises(ValidationError, match="admin-token") as unreadable:
        IndexerCheckSettings()
    assert TOKEN not in str(unreadable.value) and "input_value" not in str(unreadable.value)


def test_an_empty_token_is_no_token() -> None:
    app, fake = _app(admin_token="")
    assert _post(app, "/reconcile", {"Authorization": "Bearer "}).status_code == 403
    assert fake.ran == []


def test_the_token_appears_in_no_log_answer_metric_or_settings_error(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    app, _ = _app(admin_token=TOKEN)
    answers = [
        _post(app, "/reconcile", {"Authorization": f"Bearer {TOKEN[:-1]}"}),
        _post(app, "/reconcile", {"Authorization": f"Bearer {TOKEN}"}),
        _post(app, "/metrics"),
    ]
    assert [a.status_code for a in answers] == [401, 200, 200]
    for answer in answers:
        assert TOKEN not in answer.text and TOKEN not in str(answer.headers)
    assert "refused POST /reconcile" in caplog.text
    assert TOKEN not in caplog.text and TOKEN[:-1] not in caplog.text
    assert TOKEN not in repr(app.state.service.settings)

    # A start-up error prints what was wrong, not every value read.
    monkeypatch.setenv("INDEXER_CHECK_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("INDEXER_CHECK_SINK_WINDOW", "2")
    monkeypatch.setenv("INDEXER_CHECK_POLL_INTERVAL_S", "1")
    with pytest.raises(ValidationError, match="SINK_WINDOW") as wrong:
        IndexerCheckSettings()
    assert TOKEN not in str(wrong.value) and "input_value" not in str(wrong.value)
