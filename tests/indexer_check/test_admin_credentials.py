"""Which Elasticsearch login each of the checker's actions uses: its own (read-only) login reads
and reconciles; only `--repair --delete-extra` deletes, with the administration key or user when
one is configured, in a client of its own that is closed afterwards. Elasticsearch is a
recording stand-in, so what reaches each client is what `Reconciler` asked for."""

import argparse
import io
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import AuthorizationException
from imgsim_indexer_check import commands, repair
from imgsim_indexer_check import reconciler as reconciler_module
from imgsim_indexer_check.evaluator import State
from imgsim_indexer_check.reconcile import Findings, Reconciliation, Sources
from imgsim_indexer_check.reconciler import Reconciler
from rich.console import Console

from tests.indexer_check.fakes import settings

CHECKER_KEY = "checker-key-0f3a9c"
ADMIN_KEY = "admin-key-5d2e81"
ADMIN_PASSWORD = "admin-password-b7c4"


class RecordingElasticsearch:
    """Stands in for elasticsearch-py's client: keeps the options it was made with."""

    def __init__(self, made: list["RecordingElasticsearch"], **options: Any) -> None:
        self.options = options
        self.closed = False
        made.append(self)

    def auth(self) -> tuple[str, Any]:
        logins = [(k, self.options[k]) for k in ("api_key", "basic_auth") if k in self.options]
        assert len(logins) == 1, f"a client with {len(logins)} logins: {sorted(self.options)}"
        return logins[0]

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> "RecordingElasticsearch":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Recorded:
    """The clients made, the client each reconciliation read with, the client each repair got."""

    def __init__(self) -> None:
        self.made: list[RecordingElasticsearch] = []
        self.read_with: list[Any] = []
        self.repaired_with: list[tuple[list[repair.Action], Any]] = []

    def client(self, **options: Any) -> RecordingElasticsearch:
        return RecordingElasticsearch(self.made, **options)

    def reconcile(
        self, sources: Sources, es: Any, committed: Callable[[], Any], timeout: float
    ) -> Findings:
        self.read_with.append(es)
        report = Reconciliation(
            finished_at=0,
            seconds=0,
            dead_letters_by_reason={},
            **dict.fromkeys(
                "published vectorized indexed dead_lettered removed pending_vectorizing "
                "pending_indexing unresolved missing stale".split(),
                0,
            ),
            extra=1,
            extra_ids=["extra.jpg"],
        )
        return Findings({}, {}, ["extra.jpg"], {}, set(), report)

    def execute(self, actions: list[repair.Action], sources: Sources, es: Any) -> Mapping[str, int]:
        self.repaired_with.append((actions, es))
        return {"delete": sum(a.kind == "delete" for a in actions)}


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    spy = Recorded()
    monkeypatch.setattr(reconciler_module, "Elasticsearch", spy.client)
    monkeypatch.setattr(reconciler_module, "reconcile", spy.reconcile)
    monkeypatch.setattr(repair, "execute", spy.execute)
    # Offsets are read only inside reconcile, which is recorded: no Kafka client is needed.
    monkeypatch.setattr(reconciler_module, "OffsetReader", lambda *_: None)
    return spy


ADMIN_LOGINS = {
    "admin API key": ({"elasticsearch_admin_api_key": ADMIN_KEY}, ("api_key", ADMIN_KEY)),
    "admin user": (
        {"elasticsearch_admin_username": "imgsim-admin", "elasticsearch_admin_password": "x"},
        ("basic_auth", ("imgsim-admin", "x")),
    ),
}
CHECKER_LOGINS = {
    "checker API key": ({"elasticsearch_api_key": CHECKER_KEY}, ("api_key", CHECKER_KEY)),
    "checker user": (
        {"elasticsearch_username": "imgsim-checker", "elasticsearch_password": "y"},
        ("basic_auth", ("imgsim-checker", "y")),
    ),
}


@pytest.mark.parametrize("checker_login", CHECKER_LOGINS, ids=list(CHECKER_LOGINS))
@pytest.mark.parametrize("admin_login", ADMIN_LOGINS, ids=list(ADMIN_LOGINS))
def test_deleting_extra_documents_takes_the_administration_login(
    recorded: Recorded, checker_login: str, admin_login: str
) -> None:
    own, own_auth = CHECKER_LOGINS[checker_login]
    admin, admin_auth = ADMIN_LOGINS[admin_login]
    found = Reconciler(settings(**own, **admin))

    result = found.repair(delete_extra=True)
    found.close()

    checker_client, admin_client = recorded.made
    assert checker_client.auth() == own_auth
    # Finding what is extra is a read: the checker's own login.
    assert recorded.read_with == [checker_client]
    [(actions, used)] = recorded.repaired_with
    assert [a.kind for a in actions] == ["delete"]
    assert used is admin_client
    # The admin login replaces the checker's, never adds to it, on the same cluster.
    assert admin_client.auth() == admin_auth
    assert admin_client.options["hosts"] == checker_client.options["hosts"]
    assert admin_client.closed
    assert result.done == {"delete": 1}


@pytest.mark.parametrize("admin_login", ADMIN_LOGINS, ids=list(ADMIN_LOGINS))
def test_reconciling_and_plain_repair_use_the_checker_s_own_login(
    recorded: Recorded, admin_login: str
) -> None:
    admin, _ = ADMIN_LOGINS[admin_login]
    found = Reconciler(settings(elasticsearch_api_key=CHECKER_KEY, **admin))

    found.reconcile()
    found.repair(delete_extra=False)
    found.repair(delete_extra=True, dry_run=True)

    [checker_client] = recorded.made
    assert checker_client.auth() == ("api_key", CHECKER_KEY)
    assert recorded.read_with == [checker_client] * 3
    [(actions, used)] = recorded.repaired_with
    assert actions == [] and used is checker_client


def test_without_an_administration_login_deletion_is_asked_with_the_checker_s_own(
    recorded: Recorded,
) -> None:
    # On a secured cluster that login cannot delete: execute's RepairRefused then says which
    # setting to add (tests/stack/test_secured_pipeline.py shows the 403 on the secured stack).
    found = Reconciler(settings(elasticsearch_api_key=CHECKER_KEY))

    found.repair(delete_extra=True)

    [checker_client] = recorded.made
    [(actions, used)] = recorded.repaired_with
    assert [a.kind for a in actions] == ["delete"]
    assert used is checker_client


def test_a_refused_deletion_ends_imgsim_check_with_err_and_the_reason(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusal = "Elasticsearch refused 1 deletion(s), e.g. 403 security_exception; use the admin key"

    def refuse(actions: list[repair.Action], sources: Sources, es: Any) -> Mapping[str, int]:
        raise repair.RepairRefused(refusal)

    monkeypatch.setattr(repair, "execute", refuse)
    monkeypatch.setattr(commands, "_settings", lambda *_: settings())
    said = io.StringIO()
    monkeypatch.setattr(commands, "errors", Console(file=said, width=400))
    parser = argparse.ArgumentParser(prog="imgsim")
    commands.add_check_parser(parser.add_subparsers(dest="name", required=True))

    code = commands.check_command(parser.parse_args(["check", "--repair", "--delete-extra"]))

    assert code == commands.EXIT_CODES[State.ERR]
    assert said.getvalue().strip() == f"error: {refusal}"


class QuietProducer:
    def flush(self, timeout: float) -> int:
        return 0


def test_a_login_refused_the_whole_deletion_request_is_told_which_login_deletes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What Elasticsearch answers the checker's read-only login (seen on the secured stack): the
    # bulk request as a whole is refused with 403, not item by item.
    reason = "action [indices:data/write/bulk] is unauthorized for user [imgsim-checker]"
    meta = ApiResponseMeta(403, "1.1", HttpHeaders(), 0.0, NodeConfig("https", "es", 9200))
    body = {"error": {"type": "security_exception", "reason": reason}, "status": 403}

    def refuse(*_: Any, **__: Any) -> tuple[int, list[Any]]:
        raise AuthorizationException("security_exception", meta, body)

    monkeypatch.setattr(repair, "bulk", refuse)
    monkeypatch.setattr(repair, "_producer", lambda _: QuietProducer())
    sources = Sources({"bootstrap.servers": "kafka.test:9092"}, "paths", "paintings", "dlq", "a")
    deletions = [repair.Action("delete", i, "extra", "a") for i in ("x.jpg", "y.jpg")]
    unused: Any = None  # the client goes to `bulk`, replaced above

    with pytest.raises(repair.RepairRefused) as refused:
        repair.execute(deletions, sources, unused)

    said = str(refused.value)
    assert said.startswith(
        f"Elasticsearch refused 2 deletion(s), e.g. 403 security_exception: {reason}"
    )
    assert "INDEXER_CHECK_ELASTICSEARCH_ADMIN_" in said
