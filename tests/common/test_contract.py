"""The image-path id rule and the contract headers."""

import pytest
from imgsim_common import contract
from imgsim_common.contract import RecordRejected, image_path_record


@pytest.mark.parametrize(
    ("key", "value", "expected_id", "expected_path"),
    [
        # The publisher's shape.
        (b"a/b.jpg", b'{"id": "a/b.jpg", "path": "a/b.jpg"}', "a/b.jpg", "a/b.jpg"),
        # An explicit id without a key.
        (None, b'{"id": "p1", "path": "a/b.jpg"}', "p1", "a/b.jpg"),
        # A path without id: the key names the painting, else the path does.
        (b"k3", b'{"path": "k3.jpg"}', "k3", "k3.jpg"),
        (None, b'{"path": "k3.jpg", "metadata": {"artist": "A"}}', "k3.jpg", "k3.jpg"),
        (b"", b'{"path": "k3.jpg"}', "k3.jpg", "k3.jpg"),
        # A plain UTF-8 path, keyed or not; line ends and surrounding blanks go.
        (b"k1", b"k1.jpg", "k1", "k1.jpg"),
        (None, b"k1.jpg\n", "k1.jpg", "k1.jpg"),
        (b"", "dir/caf\u00e9.jpg".encode(), "dir/caf\u00e9.jpg", "dir/caf\u00e9.jpg"),
        # Two spellings of one path are one painting.
        (None, b"./dir//k1.jpg", "dir/k1.jpg", "./dir//k1.jpg"),
        # The path as a JSON string, as JSON serializers write one.
        (None, b'"dir/k2.jpg"', "dir/k2.jpg", "dir/k2.jpg"),
        (b"k2", b'"k2.jpg"', "k2", "k2.jpg"),
        # Text that merely starts like JSON is a path.
        (None, b"[draft] sketch.jpg", "[draft] sketch.jpg", "[draft] sketch.jpg"),
        (None, b"1890.jpg", "1890.jpg", "1890.jpg"),
    ],
)
def test_accepted_shapes_and_the_id_rule(
    key: bytes | None, value: bytes, expected_id: str, expected_path: str
) -> None:
    record = image_path_record(key, value)
    assert (record.id, record.path) == (expected_id, expected_path)


def test_metadata_is_kept() -> None:
    record = image_path_record(None, b'{"path": "x.jpg", "metadata": {"year": 1890, "a": "b"}}')
    assert record.metadata == {"year": 1890, "a": "b"}


@pytest.mark.parametrize(
    ("key", "value", "reason", "says"),
    [
        (b"other", b'{"id": "k0", "path": "k0.jpg"}', "key_mismatch", "'k0'"),
        (b"a", b'{"id": "k0", "path": "k0.jpg"}', "key_mismatch", "'k0'"),
        (None, None, "malformed_record", "no value"),
        (None, b"  \n", "malformed_record", "empty"),
        (None, b"\xff\xfe", "malformed_record", "UTF-8"),
        (None, b'{"path": ', "malformed_record", "JSON"),
        (None, b'{"id": "x"}', "malformed_record", "path"),
        (None, b'{"path": "x.jpg", "colour": "red"}', "malformed_record", "colour"),
        (None, b'{"path": ""}', "malformed_record", "path"),
        (None, ("x" * 513).encode(), "malformed_record", "id"),
        (b"k" * 513, b"x.jpg", "malformed_record", "id"),
        (b"\xff", b"x.jpg", "malformed_record", "UTF-8"),
        # JSON that is no string and no object names no file.
        (None, b'["a.jpg"]', "malformed_record", "JSON array"),
        (b"k", b'[{"path": "a.jpg"}]', "malformed_record", "JSON array"),
        (None, b"42", "malformed_record", "JSON number"),
        (None, b"1.5", "malformed_record", "JSON number"),
        (None, b"true", "malformed_record", "JSON boolean"),
        (None, b"null", "malformed_record", "JSON null"),
    ],
)
def test_rejected_shapes_say_why(
    key: bytes | None, value: bytes | None, reason: str, says: str
) -> None:
    with pytest.raises(RecordRejected) as rejected:
        image_path_record(key, value)
    assert rejected.value.reason == reason
    assert says in rejected.value.message


@pytest.mark.parametrize("version", [b"2", b"10"])
def test_a_record_of_a_newer_contract_is_refused(version: bytes) -> None:
    with pytest.raises(RecordRejected) as rejected:
        image_path_record(b"k", b"k.jpg", [(contract.CONTRACT_HEADER, version)])
    assert rejected.value.reason == "unknown_contract"
    assert "upgrade" in rejected.value.message


def test_a_record_of_this_contract_is_read() -> None:
    record = image_path_record(b"k", b"k.jpg", [(contract.CONTRACT_HEADER, b"1")])
    assert record.id == "k"


def test_ids_at_the_length_limit_are_accepted() -> None:
    assert image_path_record(None, ("x" * 512).encode()).id == "x" * 512
    assert image_path_record(b"k" * 512, b"x.jpg").id == "k" * 512


def test_a_value_of_64_kib_is_read_and_one_byte_more_is_refused_unread() -> None:
    # The limit keeps what the worker writes for a record (a dead letter quotes it) under Kafka's
    # 1 MiB: trailing blanks make a valid path of any size.
    at_limit = b"x.jpg".ljust(64 * 1024)

    assert image_path_record(None, at_limit).path == "x.jpg"
    with pytest.raises(RecordRejected, match="65,537 bytes, more than the 65,536"):
        image_path_record(None, at_limit + b" ")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("./dir//k1.jpg", "dir/k1.jpg"),
        ("-a//b.jpg", "-a/b.jpg"),
        ("Dir/K1.JPG", "Dir/K1.JPG"),
        # Nothing left to name a painting: the path is kept as sent, to name it in errors.
        (".", "."),
        ("./", "./"),
    ],
)
def test_path_id_normalises_the_spelling_only(path: str, expected: str) -> None:
    assert contract.path_id(path) == expected


def test_header_reads_the_shapes_kafka_clients_give() -> None:
    # Names built at run time, as a client decodes them, not the interned constants.
    name = "".join(["imgsim-", "contract"])
    assert contract.header([(name, b"2")], contract.CONTRACT_HEADER) == "2"
    assert contract.header({name: "2"}, contract.CONTRACT_HEADER) == "2"
    assert contract.header([(name, None)], contract.CONTRACT_HEADER) is None
    assert contract.header([("imgsim-a", b"9")], contract.CONTRACT_HEADER) is None


def test_contract_version_from_headers() -> None:
    assert contract.contract_version(None) == 1
    assert contract.contract_version([("other", b"7")]) == 1
    assert contract.contract_version([("a-header-sorting-first", b"7")]) == 1
    assert contract.contract_version([(contract.CONTRACT_HEADER, b"1")]) == 1
    assert contract.contract_version([(contract.CONTRACT_HEADER, b"2")]) == 2
    # The last value of a repeated header counts, as Kafka's own readers take it.
    assert (
        contract.contract_version(
            [(contract.CONTRACT_HEADER, b"1"), (contract.CONTRACT_HEADER, b"2")]
        )
        == 2
    )


@pytest.mark.parametrize("text", [b"two", b"0", b"-1", b""])
def test_a_contract_header_that_is_no_version_is_refused(text: bytes) -> None:
    with pytest.raises(RecordRejected, match="version number") as rejected:
        contract.contract_version([(contract.CONTRACT_HEADER, text)])
    assert rejected.value.reason == "unknown_contract"
