"""The faust-streaming app: one agent on the image-path topic, vector records out.

Several workers with the same `VECTORIZER_CONSUMER_GROUP` share the topic's partitions; more
partitions and more workers is all scale-out takes.
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import faust
from faust.types.auth import CredentialsT

from imgsim_vectorizer import metrics
from imgsim_vectorizer.pipeline import OnSafe, OrderedPipeline, PipelineFailedError
from imgsim_vectorizer.settings import VectorizerSettings
from imgsim_vectorizer.vectorizing import Destination, Message, Outgoing, Vectorizer

log = logging.getLogger(__name__)


def _acknowledger(stream: faust.StreamT[Any], events: Sequence[Any]) -> OnSafe:
    batch = list(events)

    async def acknowledge() -> None:
        for event in batch:
            await stream.ack(event)

    return acknowledge


def broker_credentials(settings: VectorizerSettings) -> CredentialsT | None:
    """faust's (aiokafka's) form of the `VECTORIZER_KAFKA_*` security settings."""
    context = settings.kafka_ssl_context()
    if settings.kafka_uses_sasl:
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password is not None else None,
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    return faust.SSLCredentials(context) if context is not None else None


def create_app(
    settings: VectorizerSettings, vectorizer: Vectorizer, inference_pool: Executor | None = None
) -> faust.App:
    """`inference_pool`: the one thread that runs the network (the embedding endpoint's too)."""
    settings = settings.for_model(vectorizer.card)
    brokers = [
        f"kafka://{server.strip()}" for server in settings.kafka_bootstrap_servers.split(",")
    ]
    # faust makes only the last level of its data directory, at start-up.
    datadir = settings.data_dir / settings.consumer_group
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.consumer_group,
        broker=brokers,
        broker_credentials=broker_credentials(settings),
        # faust formats the path with its settings (`{conf.name}`): braces in it are literal.
        datadir=str(datadir).replace("{", "{{").replace("}", "}}"),
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,
        # Topics are provisioned with their partitions and policies; the worker never
        # creates one with defaults of its own.
        topic_allow_declare=False,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # A worker that dies is noticed within seconds and its partitions move to the others.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        stream_buffer_maxsize=max(4096, settings.batch_size * 4),
    )
    image_paths = app.topic(settings.input_topic, key_type=bytes, value_type=bytes)
    paintings = app.topic(settings.output_topic, key_type=bytes, value_type=bytes)
    dead_letters = app.topic(settings.dead_letter_topic, key_type=bytes, value_type=bytes)

    topics = {Destination.VECTOR_RECORDS: paintings, Destination.DEAD_LETTERS: dead_letters}

    async def send(item: Outgoing) -> None:
        delivery = await topics[item.destination].send(
            key=item.key, value=item.value, headers=list(item.headers)
        )
        await delivery  # acknowledged by Kafka (acks=all) before the input may be committed

    inference_pool = inference_pool or ThreadPoolExecutor(1, thread_name_prefix="inference")

    async def stop_worker(error: PipelineFailedError) -> None:
        # The failed batch's offsets can never be committed now: only a restart, from the last
        # committed offset, delivers it again. Stop the worker rather than stall.
        if not app.crashed:
            log.critical("a batch could not be delivered; stopping the worker: %r", error.__cause__)
            await app.crash(error)

    @app.agent(image_paths, name="vectorize")
    async def vectorize(stream: Any) -> None:  # faust.Stream; its StreamT lacks take_events
        pipeline = OrderedPipeline(vectorizer, send, inference_pool, on_failure=stop_worker)
        try:
            async for events in stream.take_events(
                settings.batch_size, within=settings.batch_timeout_s
            ):
                # take_events acks a batch when the next one is asked for; the extra reference
                # holds each offset back until the batch's outputs are safe in Kafka.
                for event in events:
                    event.message.incref()

                await pipeline.submit(
                    [Message(e.key, e.value, e.headers) for e in events],
                    _acknowledger(stream, events),
                )
            await pipeline.drain()
        except asyncio.CancelledError:
            # The worker is stopping: let the batches under way finish and be acknowledged.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pipeline.drain(), timeout=30)
            raise
        except PipelineFailedError as e:
            await stop_worker(e)

    @app.timer(interval=5.0)  # type: ignore[untyped-decorator]
    async def report_lag() -> None:
        consumer = app.consumer
        for tp in consumer.assignment():
            # faust keeps the last offset it read per partition in `_read_offset`.
            read = getattr(consumer, "_read_offset", {}).get(tp)
            highwater = consumer.highwater(tp)
            if highwater is not None:
                next_offset = (read + 1) if read is not None else 0
                metrics.CONSUMER_LAG.labels(str(tp.partition)).set(max(0, highwater - next_offset))

    return app
