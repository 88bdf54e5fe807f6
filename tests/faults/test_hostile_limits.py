"""The bounds the hostile corpus found missing, without a stack: an image-path value is read only
up to `contract.MAX_IMAGE_PATH_BYTES`, a dead letter stays far below what Kafka takes (a 1 MB
value once made a 2 MB dead letter that Kafka refused, which stopped the worker on every
restart), and the publisher names in one line why it skips a file."""

import pytest
from imgsim_common import contract
from imgsim_vectorizer.publisher import Scan, publish
from imgsim_vectorizer.vectorizing import dead_letter

from tests.faults.hostile import DEEP_NAME, NON_UTF8_NAME
from tests.vectorizer.fakes import FakeProducer

pytestmark = [pytest.mark.faults]

KAFKA_RECORD_LIMIT = 2**20  # the broker's and aiokafka's default, a record and its overhead


def test_a_value_beyond_the_limit_is_refused_unread() -> None:
    largest = b"\x01" * contract.MAX_IMAGE_PATH_BYTES
    assert contract.image_path_record(b"k", largest).path == largest.decode()

    with pytest.raises(contract.RecordRejected) as refused:
        contract.image_path_record(b"k", b'{"path": "' + b"a" * 10 * 2**20 + b'"}')
    assert refused.value.reason == "malformed_record"
    assert f"more than the {contract.MAX_IMAGE_PATH_BYTES:,}" in refused.value.message


def test_the_dead_letter_of_the_largest_record_fits_in_a_kafka_record() -> None:
    # Control characters: six bytes each once JSON escapes them, in the record and the message.
    record = contract.image_path_record(b"k", b"\x01" * contract.MAX_IMAGE_PATH_BYTES)
    message = f"cannot open /images/{record.path}: File name too long"

    letter = dead_letter(b"k", "unreadable", message, record=record)

    assert len(letter.value) < KAFKA_RECORD_LIMIT / 2


def test_a_dead_letter_s_message_is_bounded() -> None:
    letter = dead_letter(b"k", "unreadable", "m" * 10 * 2**20, raw=b"r" * 10 * 2**20)

    assert len(letter.value) < 64 * 1024


def test_the_publisher_says_in_one_line_why_it_skips_a_name() -> None:
    producer = FakeProducer()

    summary = publish(producer, "t", Scan([NON_UTF8_NAME, DEEP_NAME, "ok.jpg"]))

    assert summary.published == 1
    assert {s.path: s.reason for s in summary.skipped} == {
        NON_UTF8_NAME: "name is not valid UTF-8",
        DEEP_NAME: "id: String should have at most 512 characters",
    }
