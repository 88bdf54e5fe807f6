"""imgsim_stack.compose_credentials and .compose_kafka: what docker-compose's one-shot services
make and hand out, run here on a temporary state directory instead of the volumes."""

import base64
import stat
from pathlib import Path

import pytest
from imgsim_stack import compose_credentials, compose_kafka, credentials, elasticsearch_security
from imgsim_stack.certificates import security_dir
from imgsim_stack.compose_credentials import AFTER_PROVISIONING, BEFORE_START, MOUNT_POINTS
from imgsim_stack.elasticsearch_keys import api_key_file
from imgsim_stack.elasticsearch_roles import CHECKER, SEARCH
from imgsim_stack.errors import StackError
from imgsim_stack.settings import StackSettings


@pytest.fixture
def settings(tmp_path: Path) -> StackSettings:
    update = {"state_dir": tmp_path / "stack"}
    return compose_credentials.compose_settings().model_copy(update=update)


@pytest.fixture
def hand_out_root(tmp_path: Path, settings: StackSettings) -> Path:
    root = tmp_path / "hand-out"
    compose_credentials.make(settings, lambda _: None, hand_out_root=root)
    return root


def _files(directory: Path) -> dict[str, int]:
    """Relative path -> permission bits, files only."""
    return {
        str(path.relative_to(directory)): stat.S_IMODE(path.stat().st_mode)
        for path in directory.rglob("*")
        if path.is_file()
    }


def test_each_container_gets_only_its_files(hand_out_root: Path) -> None:
    for name, files in BEFORE_START.items():
        held = _files(hand_out_root / name)
        assert set(held) == set(files.values()), name
        # Elasticsearch and Kafka run as another uid than the writer; the others as the writer.
        assert set(held.values()) == ({0o444} if name in {"elasticsearch", "kafka"} else {0o400})
    for name, directories in MOUNT_POINTS.items():
        for directory in directories:
            assert (hand_out_root / name / directory).is_dir()


def test_no_container_gets_the_cas_key(hand_out_root: Path, settings: StackSettings) -> None:
    ca_key = (security_dir(settings.state_dir) / "ca-key.pem").read_bytes()

    for path in hand_out_root.rglob("*"):
        assert not path.is_file() or ca_key not in path.read_bytes(), path


def test_elasticsearch_gets_the_elastic_password_and_its_tls_files(
    hand_out_root: Path, settings: StackSettings
) -> None:
    security = security_dir(settings.state_dir)
    elastic = elasticsearch_security.password_file(settings.state_dir, "elastic")

    for source, target in BEFORE_START["elasticsearch"].items():
        assert (hand_out_root / "elasticsearch" / target).read_bytes() == (
            security / source
        ).read_bytes()
    assert (hand_out_root / "elasticsearch" / elastic.name).read_text() == elastic.read_text()


def test_connects_health_check_logs_in_as_its_rest_admin(
    hand_out_root: Path, settings: StackSettings
) -> None:
    header = (hand_out_root / "connect" / compose_credentials.REST_HEALTH_AUTHORIZATION).read_text()
    password = credentials.connect_password_file(settings.state_dir, "admin").read_text()

    scheme, login = header.split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(login).decode() == f"admin:{password}"
    users = (hand_out_root / "connect" / compose_credentials.REST_USERS).read_text()
    assert f"admin={password}\n" in users


def test_connects_own_folder_holds_its_kafka_password(
    settings: StackSettings, hand_out_root: Path
) -> None:
    folder = credentials.connect_dir(settings.state_dir)
    password = credentials.kafka_password_file(settings.state_dir, "connect").read_text()

    assert (folder / "kafka-password").read_text() == password


def test_the_storage_is_formatted_with_every_scram_user(
    hand_out_root: Path, settings: StackSettings
) -> None:
    arguments = (hand_out_root / "kafka" / compose_kafka.FORMAT_ARGUMENTS).read_text().split("\n")
    state = settings.state_dir

    assert arguments[:2] == ["kafka.tools.StorageTool", "format"]
    config = arguments[arguments.index("-c") + 1]
    assert config == str(security_dir(state) / compose_kafka.SERVER_PROPERTIES)
    scram = [arguments[i + 1] for i, part in enumerate(arguments) if part == "--add-scram"]
    for user in credentials.KAFKA_USERS:
        password = credentials.kafka_password_file(state, user).read_text()
        assert f"SCRAM-SHA-512=[name={user},password={password}]" in scram
    # One argument a line: a Java argument file splits on blanks.
    assert all(" " not in line for line in arguments)


def test_making_again_keeps_every_secret_and_hands_out_again(
    hand_out_root: Path, settings: StackSettings, tmp_path: Path
) -> None:
    before = {name: _read_all(hand_out_root / name) for name in BEFORE_START}
    cluster_id = (security_dir(settings.state_dir) / compose_kafka.CLUSTER_ID).read_text()

    compose_credentials.make(settings, lambda _: None, hand_out_root=hand_out_root)

    assert {name: _read_all(hand_out_root / name) for name in BEFORE_START} == before
    assert (security_dir(settings.state_dir) / compose_kafka.CLUSTER_ID).read_text() == cluster_id


def _read_all(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def test_services_get_their_api_keys_once_provisioning_made_them(
    hand_out_root: Path, settings: StackSettings
) -> None:
    state = settings.state_dir
    with pytest.raises(StackError, match="elasticsearch-search-api-key is missing"):
        compose_credentials.hand_out_to_services(settings, lambda _: None, hand_out_root)

    for role in (SEARCH, CHECKER):
        credentials.write_secret(state, api_key_file(state, role).name, f"key-of-{role.name}")
    compose_credentials.hand_out_to_services(settings, lambda _: None, hand_out_root)

    for name, files in AFTER_PROVISIONING.items():
        assert set(_files(hand_out_root / name)) == set(files.values()), name
    search = hand_out_root / "search-api" / "secrets" / api_key_file(state, SEARCH).name
    assert search.read_text() == "key-of-search"
    embedding = "secrets/" + compose_credentials.EMBEDDING_TOKEN
    vectorizer_token = (hand_out_root / "vectorizer" / embedding).read_text()
    assert vectorizer_token == (hand_out_root / "search-api" / embedding).read_text()


def test_the_command_line_names_its_commands_and_wants_the_secured_mode(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compose_credentials.main(["bogus"]) == 2
    assert "make" in capsys.readouterr().err
    monkeypatch.setenv("IMGSIM_STACK_SECURITY", "off")
    assert compose_credentials.main(["make"]) == 2
    assert "IMGSIM_STACK_SECURITY=on" in capsys.readouterr().err
