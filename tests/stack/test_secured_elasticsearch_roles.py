"""The secured stack's Elasticsearch roles and logins, without a cluster: what each role may do,
how logins are made, kept, rotated and handed out, and that no secret lands in a config."""

import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError, AuthenticationException
from imgsim_stack import credentials, elasticsearch_keys, elasticsearch_security
from imgsim_stack.certificates import ensure_certificates
from imgsim_stack.elasticsearch_roles import ADMIN, CHECKER, ROLES, SEARCH, SINK, roles_yml
from imgsim_stack.errors import StackError
from imgsim_stack.provision import connector_config
from imgsim_stack.settings import StackSettings

WRITES = {"write", "index", "create", "create_doc", "delete", "all", "manage", "create_index"}


def privileges(descriptor: dict[str, Any]) -> set[str]:
    return {p for grant in descriptor["indices"] for p in grant["privileges"]}


def test_roles_yml_holds_every_role_descriptor() -> None:
    parsed = yaml.safe_load(roles_yml())

    assert parsed == {role.elasticsearch_role: role.descriptor() for role in ROLES}


def test_the_search_role_reads_the_alias_and_the_indices_behind_it_only() -> None:
    descriptor = SEARCH.descriptor()

    assert [grant["names"] for grant in descriptor["indices"]] == [["paintings", "paintings-*"]]
    assert privileges(descriptor) == {"read", "view_index_metadata"}
    assert descriptor["cluster"] == []


def test_the_sink_writes_paintings_indices_and_reads_nothing() -> None:
    descriptor = SINK.descriptor()

    assert [grant["names"] for grant in descriptor["indices"]] == [["paintings-*"]]
    assert privileges(descriptor) == {"index", "delete"}
    assert descriptor["cluster"] == []


def test_the_checker_reads_but_cannot_delete_or_write() -> None:
    descriptor = CHECKER.descriptor()

    assert "read" in privileges(descriptor)
    assert not privileges(descriptor) & WRITES
    assert descriptor["cluster"] == ["monitor"]


def test_only_the_admin_role_manages_templates() -> None:
    holders = [role.name for role in ROLES if "manage_index_templates" in role.cluster]

    assert holders == [ADMIN.name]


@pytest.fixture
def secured(tmp_path: Path) -> StackSettings:
    settings = StackSettings(state_dir=tmp_path / "state", security="on")
    ensure_certificates(settings.state_dir, [settings.host])
    elasticsearch_security.ensure_passwords(settings.state_dir)
    return settings


def _api_error(status: int, message: str) -> ApiError:
    meta = ApiResponseMeta(status, "1.1", HttpHeaders(), 0.0, NodeConfig("https", "es", 9200))
    return ApiError(message, meta, {"error": message})


class FakeSecurity:
    """The `security` namespace of elasticsearch-py, as a full Elasticsearch answers."""

    def __init__(self, valid: set[str], refuse: ApiError | None = None) -> None:
        self.valid = valid
        self.refuse = refuse
        self.created: list[str] = []
        # Every create_api_key call's arguments: a key made without role descriptors would
        # hold all the rights of the user who made it (elastic's).
        self.requests: list[dict[str, Any]] = []
        self.invalidated: list[str] = []
        self.presented: str | None = None

    def authenticate(self) -> dict[str, Any]:
        if self.presented not in self.valid:
            meta = ApiResponseMeta(401, "1.1", HttpHeaders(), 0.0, NodeConfig("https", "es", 9200))
            raise AuthenticationException("unable to authenticate", meta, {})
        return {"username": "key"}

    def invalidate_api_key(self, name: str) -> dict[str, Any]:
        self.invalidated.append(name)
        self.valid = {key for key in self.valid if not key.startswith(name)}
        return {}

    def create_api_key(self, name: str, **arguments: Any) -> dict[str, Any]:
        self.requests.append({"name": name, **arguments})
        if self.refuse is not None:
            raise self.refuse
        encoded = f"{name}-key{len(self.created)}"
        self.created.append(name)
        self.valid.add(encoded)
        return {"encoded": encoded}


class FakeElasticsearch:
    def __init__(self, security: FakeSecurity) -> None:
        self.security = security

    def options(self, api_key: str) -> "FakeElasticsearch":
        self.security.presented = api_key
        return self


def test_api_keys_are_made_once_and_kept_while_they_authenticate(secured: StackSettings) -> None:
    security = FakeSecurity(set())
    es: Any = FakeElasticsearch(security)

    first = elasticsearch_keys.ensure_logins(es, secured, lambda _: None)
    again = elasticsearch_keys.ensure_logins(es, secured, lambda _: None)

    assert security.created == [f"imgsim-{role.name}" for role in ROLES]
    assert first == again
    # Each key is limited to its role's descriptor, and to nothing more.
    assert [request["role_descriptors"] for request in security.requests] == [
        {role.elasticsearch_role: role.descriptor()} for role in ROLES
    ]
    search = next(r for r in security.requests if r["name"] == "imgsim-search")
    assert privileges(search["role_descriptors"]["imgsim_search"]) == {
        "read",
        "view_index_metadata",
    }
    search_key = first["search"].api_key_file
    assert search_key is not None
    assert credentials.read_secret(search_key) == "imgsim-search-key0"
    assert stat.S_IMODE(search_key.stat().st_mode) == 0o600


def test_a_deleted_key_file_rotates_that_key_and_invalidates_the_old_one(
    secured: StackSettings,
) -> None:
    security = FakeSecurity(set())
    es: Any = FakeElasticsearch(security)
    logins = elasticsearch_keys.ensure_logins(es, secured, lambda _: None)
    sink_key = logins["sink"].api_key_file
    assert sink_key is not None
    old = credentials.read_secret(sink_key)

    sink_key.unlink()
    elasticsearch_keys.ensure_logins(es, secured, lambda _: None)

    assert credentials.read_secret(sink_key) != old
    assert old not in security.valid
    assert security.invalidated.count("imgsim-sink") == 2
    rotated = security.requests[-1]
    assert rotated["name"] == "imgsim-sink"
    assert rotated["role_descriptors"] == {SINK.elasticsearch_role: SINK.descriptor()}


def test_without_api_keys_each_role_logs_in_as_its_file_realm_user(
    secured: StackSettings,
) -> None:
    refusal = _api_error(400, "Unknown filter type [pattern_capture] for [email]")
    es: Any = FakeElasticsearch(FakeSecurity(set(), refuse=refusal))
    said: list[str] = []

    logins = elasticsearch_keys.ensure_logins(es, secured, said.append)

    assert logins["search"].api_key_file is None
    assert logins["search"].env("SEARCH_API_ELASTICSEARCH_") == {
        "SEARCH_API_ELASTICSEARCH_USERNAME": "imgsim-search",
        "SEARCH_API_ELASTICSEARCH_PASSWORD_FILE": str(
            elasticsearch_security.password_file(secured.state_dir, SEARCH)
        ),
    }
    assert any("file-realm" in line for line in said)


def test_an_api_key_refusal_without_users_to_fall_back_on_is_an_error(tmp_path: Path) -> None:
    settings = StackSettings(state_dir=tmp_path / "state", security="on")
    es: Any = FakeElasticsearch(FakeSecurity(set(), refuse=_api_error(403, "unauthorized")))

    with pytest.raises(StackError, match="cannot make API keys"):
        elasticsearch_keys.ensure_logins(es, settings, lambda _: None)


def test_handing_out_writes_file_names_not_secrets_and_says_when_the_sink_changed(
    secured: StackSettings,
) -> None:
    es: Any = FakeElasticsearch(FakeSecurity(set()))
    logins = elasticsearch_keys.ensure_logins(es, secured, lambda _: None)

    changed = elasticsearch_keys.hand_out(secured, logins, lambda _: None)
    unchanged = elasticsearch_keys.hand_out(secured, logins, lambda _: None)

    assert (changed, unchanged) == (True, False)
    env = credentials.read_client_env(credentials.client_env_path(secured.state_dir))
    assert env["SEARCH_API_ELASTICSEARCH_URL"] == f"https://127.0.0.1:{secured.elasticsearch_port}"
    assert env["INDEXER_CHECK_ELASTICSEARCH_API_KEY_FILE"].endswith("elasticsearch-checker-api-key")
    assert env["INDEXER_CHECK_ELASTICSEARCH_ADMIN_API_KEY_FILE"].endswith("-admin-api-key")
    text = credentials.client_env_path(secured.state_dir).read_text()
    for login in logins.values():
        assert login.api_key_file is not None
        assert credentials.read_secret(login.api_key_file) not in text
    properties = elasticsearch_keys.sink_properties(secured.state_dir)
    assert stat.S_IMODE(properties.stat().st_mode) == 0o600
    assert stat.S_IMODE(properties.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("api_keys", [True, False], ids=["api-key", "file-realm-user"])
def test_the_connector_config_holds_placeholders_never_the_secret(
    secured: StackSettings, api_keys: bool
) -> None:
    refusal = None if api_keys else _api_error(400, "no API keys")
    es: Any = FakeElasticsearch(FakeSecurity(set(), refuse=refusal))
    logins = elasticsearch_keys.ensure_logins(es, secured, lambda _: None)
    elasticsearch_keys.hand_out(secured, logins, lambda _: None)

    config = connector_config(secured)

    properties = elasticsearch_keys.sink_properties(secured.state_dir)
    held = dict(line.split("=", 1) for line in properties.read_text().splitlines())
    secret = held["api.key" if api_keys else "password"]
    assert len(secret) >= 16
    assert secret not in str(config)
    assert config["connection.urls"].startswith("https://")
    assert config["connection.ca.file"] == str(elasticsearch_keys.connector_ca(secured.state_dir))
    field = "connection.api.key" if api_keys else "connection.password"
    assert config[field] == f"${{file:{properties}:{field.split('.', 1)[1]}}}"


def test_a_plain_stack_connector_has_no_login_and_plain_http() -> None:
    config = connector_config(StackSettings())

    assert config["connection.urls"].startswith("http://")
    assert not {"connection.ca.file", "connection.username", "connection.api.key"} & set(config)
    assert "consumer.override.auto.offset.reset" not in config


def test_secured_elasticsearch_serves_http_over_tls_with_the_copied_certificates() -> None:
    lines = elasticsearch_security.elasticsearch_yml()

    assert "xpack.security.enabled: true" in lines
    assert "xpack.security.http.ssl.enabled: true" in lines
    assert "xpack.security.http.ssl.key: certs/elasticsearch-key.pem" in lines
