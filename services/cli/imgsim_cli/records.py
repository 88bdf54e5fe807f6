"""`imgsim records TOPIC`: prints a topic's records as a person reads them.

Any topic: `paintings` values of every contract version are decoded with their vectors
summarised, JSON values are shown as JSON, anything else as text.
"""

import argparse
import json
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from imgsim_common import names
from imgsim_common.access import KafkaClientConfig, bootstrap_of, librdkafka
from imgsim_common.painting_records import decode_painting, describe

OK, FAILED, BAD_ARGUMENTS = 0, 1, 2


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser(
        "records",
        help="print a topic's records readably (vectors summarised)",
        description="Print records of TOPIC as JSON lines: key, headers and the decoded value. "
        "Without --key, the last records of each partition.",
    )
    parser.add_argument("topic", metavar="TOPIC", help=f"e.g. {names.PAINTINGS_TOPIC}")
    parser.add_argument("--key", metavar="ID", help="every record with this key (reads the topic)")
    parser.add_argument("--last", type=int, default=5, metavar="N", help="default: 5")
    parser.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT",
        help="default: INDEXER_CHECK_KAFKA_BOOTSTRAP_SERVERS, with the checker's Kafka credentials",
    )
    parser.set_defaults(command=command)


def readable(message: Message) -> dict[str, Any]:
    key = message.key()
    value = message.value()
    raw_headers = message.headers() or []
    headers = list(raw_headers.items()) if isinstance(raw_headers, dict) else raw_headers
    shown: Any
    if value is None:
        shown = None  # a tombstone
    else:
        try:
            shown = json.loads(value)
            if isinstance(shown, dict) and "vectors" in shown:  # a version-1 vector record
                shown = describe(decode_painting(value, headers))
        except ValueError:
            try:  # a version-2 vector record, or text
                shown = describe(decode_painting(value, headers))
            except ValueError:
                shown = value.decode("utf-8", "replace")
    return {
        "partition": message.partition(),
        "offset": message.offset(),
        "key": key.decode("utf-8", "replace") if key is not None else None,
        "headers": {
            name: (v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
            for name, v in headers
        },
        "value": shown,
    }


def _read(kafka: KafkaClientConfig, topic: str, key: str | None, last: int) -> list[Message]:
    consumer = Consumer(
        librdkafka(
            kafka,
            {
                "group.id": f"imgsim-records-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            },
        )
    )
    try:
        metadata = consumer.list_topics(topic, timeout=15).topics.get(topic)
        if metadata is None or metadata.error is not None:
            raise LookupError(f"topic {topic!r} does not exist on {bootstrap_of(kafka)}")
        assignment = []
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 15)
            if high > low:
                start = low if key is not None else max(low, high - last)
                assignment.append(TopicPartition(topic, partition, start))
        found: list[Message] = []
        remaining = {tp.partition for tp in assignment}
        consumer.assign(assignment)
        while remaining:
            for message in consumer.consume(num_messages=1000, timeout=5) or []:
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(str(error))
                    remaining.discard(message.partition())
                elif key is None or message.key() == key.encode():
                    found.append(message)
        found.sort(key=lambda m: m.timestamp()[1])
        return found if key is not None else found[-last:]
    finally:
        consumer.close()


def command(args: argparse.Namespace) -> int:
    # The records a person reads are the checker's to read: its settings, its credentials.
    from imgsim_indexer_check.settings import IndexerCheckSettings
    from pydantic import ValidationError

    if args.last < 1:
        print("error: --last must be at least 1")
        return BAD_ARGUMENTS
    try:
        kafka = IndexerCheckSettings().kafka_config()
    except ValidationError as e:
        print(f"error: invalid INDEXER_CHECK_* settings:\n{e}")
        return BAD_ARGUMENTS
    if args.bootstrap_servers:
        kafka["bootstrap.servers"] = args.bootstrap_servers
    try:
        messages = _read(kafka, args.topic, args.key, args.last)
    except LookupError as e:
        print(f"error: {e}")
        return BAD_ARGUMENTS
    for message in messages:
        print(json.dumps(readable(message), ensure_ascii=False))
    if args.key is not None and not messages:
        print(f"no record with key {args.key!r} on {args.topic}")
        return FAILED
    return OK
