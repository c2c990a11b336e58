"""The listener's resync branches, against the stub API and the real Kafka broker.

Each test has a topic of its own. The listener's loop is stepped from the
test (``step_until``) instead of running on its thread, so that what the
test does to the broker or the API happens between two steps, never during
one. Errors that only a broker in trouble produces (a dropped connection, a
refused login) are handed to the listener's error callback as the
``KafkaError`` librdkafka would pass.
"""

import json
import logging
import threading
import time
import uuid

import pytest
from confluent_kafka import KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka_under_test import broker_settings
from noreboot.api import ConfigApi
from noreboot.kafka_feed import KafkaFeed
from noreboot.listener import KafkaListener
from noreboot.partitioner import partition_for_namespace
from noreboot.store import SnapshotStore
from noreboot.transport import HttpClient
from stub_snapshot_api import CREDENTIALS_PATH, NAMESPACE, SNAPSHOT_PATH, credentials_body, snapshot_body

BROKER = broker_settings()


@pytest.fixture
def admin():
    return AdminClient(BROKER)


@pytest.fixture
def make_topic(admin):
    """Creates a topic of the test's own; deleted afterwards."""
    created = []

    def make(partitions=1):
        topic = f"sdk-test-{uuid.uuid4().hex[:12]}"
        admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(timeout=15)
        created.append(topic)
        return topic

    yield make
    if created:
        for future in admin.delete_topics(created).values():
            future.result(timeout=15)


@pytest.fixture
def producer():
    producer = Producer(BROKER)
    yield producer
    producer.flush(10)


def publish(
    producer, topic, partitions, revision, name="timeout", value=3.0, version=None, key=NAMESPACE, epoch="epoch-1"
):
    """One event, to the partition the relay would pick for ``key``."""
    payload = {
        "namespace": key,
        "name": name,
        "value": value,
        "version": version or revision,
        "revision": revision,
        "epoch": epoch,
        "op": "upsert",
    }
    partition = partition_for_namespace(key, partitions)
    producer.produce(topic, json.dumps(payload).encode(), key=key.encode(), partition=partition)
    assert producer.flush(10) == 0


def configs(**values):
    return [{"name": name, "value": value, "version": 1} for name, value in values.items()]


@pytest.fixture
def make_listener(snapshot_server):
    """A listener of a store that holds what the stub serves now, as start() leaves it."""
    made = []

    def make(**options):
        api = ConfigApi(HttpClient(snapshot_server.url, "secret", timeout=2.0, user_agent="sdk-test"), NAMESPACE)
        store = SnapshotStore(NAMESPACE, cache=None, cache_write_interval=1.0, on_swap=lambda snapshot: None)
        first = api.fetch()
        store.install(first.snapshot, "api")
        settings = {
            "kafka_bootstrap": BROKER["bootstrap.servers"],
            "kafka_config": {key: value for key, value in BROKER.items() if key != "bootstrap.servers"},
            "poll_timeout": 0.05,
            "poll_interval": 0.05,
            "resync_after_outage": 30.0,
            "refresh_interval": 300.0,
            **options,
        }
        listener = KafkaListener(store, api, first.route, **settings)
        made.append(listener)
        return listener, store

    yield make
    for listener in made:
        listener._feed.close()


def step_until(listener, predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the listener did not get there in time"
        listener._step()


def step_for(listener, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        listener._step()


def snapshot_gets(server):
    return len(server.requests_to("GET", SNAPSHOT_PATH))


def connected_listener(make_listener, snapshot_server, topic, partitions=1, revision=11, **options):
    snapshot_server.body = snapshot_body(revision, configs(timeout=2.5), topic, partitions)
    listener, store = make_listener(**options)
    step_until(listener, lambda: listener.connected)
    return listener, store


# -- applying and the revision gap ---------------------------------------------------


def test_listener__next_revision_on_kafka__applied_without_asking_the_service(
    make_listener, snapshot_server, make_topic, producer
):
    topic = make_topic()
    listener, store = connected_listener(make_listener, snapshot_server, topic)
    gets = snapshot_gets(snapshot_server)

    publish(producer, topic, 1, 12, value=3.0)
    publish(producer, topic, 1, 99, value=0.0, key="other/prod/checkout")  # shares the partition: ignored
    step_until(listener, lambda: store.current.revision == 12)
    step_for(listener, 0.3)

    assert store.current.values == {"timeout": 3.0}
    assert snapshot_gets(snapshot_server) == gets
    assert listener.feed == "kafka" and listener.connected


def test_listener__revision_gap__resyncs_to_the_served_snapshot(
    make_listener, snapshot_server, make_topic, producer, caplog
):
    topic = make_topic()
    listener, store = connected_listener(make_listener, snapshot_server, topic)
    snapshot_server.body = snapshot_body(14, configs(timeout=4.0, added=True), topic, partitions=1)

    with caplog.at_level(logging.INFO, logger="noreboot"):
        publish(producer, topic, 1, 14, value=4.0)  # 12 and 13 never arrive
        step_until(listener, lambda: store.current.revision == 14)

    assert store.current.values == {"timeout": 4.0, "added": True}
    assert any("expected revision 12, got 14; fetching a new snapshot" in r.getMessage() for r in caplog.records)
    step_until(listener, lambda: listener.connected)


def test_listener__start_and_resync__assigns_only_the_exact_offsets_it_noted(
    make_listener, snapshot_server, make_topic, producer, monkeypatch
):
    # A logical offset (the end) assigned before the exact one can win over it
    # in librdkafka and skip the events in between (librdkafka issue 5345).
    assigned = []
    assign = KafkaFeed.assign
    monkeypatch.setattr(KafkaFeed, "assign", lambda feed, partition, offset: (
        assigned.append(offset), assign(feed, partition, offset)))
    topic = make_topic()
    publish(producer, topic, 1, 10), publish(producer, topic, 1, 11)  # in the snapshot already

    listener, store = connected_listener(make_listener, snapshot_server, topic)
    snapshot_server.body = snapshot_body(14, configs(timeout=4.0), topic, partitions=1)
    publish(producer, topic, 1, 14, value=4.0)  # a gap: resync
    step_until(listener, lambda: store.current.revision == 14 and listener.connected)

    assert assigned == [2, 3]


# -- a lost position -----------------------------------------------------------------


def test_listener__offset_out_of_range__position_lost_resyncs_and_consumes_again(
    make_listener, snapshot_server, make_topic, producer, caplog
):
    topic = make_topic()
    listener, store = connected_listener(make_listener, snapshot_server, topic)
    partition = TopicPartition(topic, 0)
    # A position past the log's end, as after the topic was re-created behind our back.
    listener._feed.assign(partition, 1000)
    gets = snapshot_gets(snapshot_server)

    with caplog.at_level(logging.WARNING, logger="noreboot"):
        step_until(listener, lambda: snapshot_gets(snapshot_server) > gets and listener.connected)

    assert any("Kafka position lost" in r.getMessage() for r in caplog.records)
    publish(producer, topic, 1, 12, value=3.0)
    step_until(listener, lambda: store.current.revision == 12)


# -- a long outage ---------------------------------------------------------------------


@pytest.mark.parametrize(("resync_after_outage", "resyncs"), [(0.2, True), (60.0, False)])
def test_listener__kafka_trouble_then_back__resync_only_after_a_long_outage(
    make_listener, snapshot_server, make_topic, resync_after_outage, resyncs, caplog
):
    topic = make_topic()
    listener, store = connected_listener(
        make_listener, snapshot_server, topic, resync_after_outage=resync_after_outage
    )
    gets = snapshot_gets(snapshot_server)

    with caplog.at_level(logging.INFO, logger="noreboot"):
        listener._on_kafka_error(KafkaError(KafkaError._TRANSPORT, "broker connection lost"))
        assert not listener.connected
        # The probe asks the broker after a second; it answers: the trouble is over.
        step_until(listener, lambda: listener._feed.healthy)
        step_until(listener, lambda: listener.connected)

    long_outage = [r for r in caplog.records if "Kafka was away for a long time" in r.getMessage()]
    assert (len(long_outage) == 1) is resyncs
    assert (snapshot_gets(snapshot_server) > gets) is resyncs


# -- a new topic layout ------------------------------------------------------------------


def test_listener__topic_and_partition_count_changed__follows_to_the_new_partition(
    make_listener, snapshot_server, make_topic, producer
):
    old_topic, new_topic = make_topic(1), make_topic(3)
    listener, store = connected_listener(make_listener, snapshot_server, old_topic, refresh_interval=0.3)
    snapshot_server.body = snapshot_body(revision=11, configs=configs(timeout=2.5), topic=new_topic, partitions=3)

    # The periodic refresh is the only news of a move while nothing is published.
    step_until(listener, lambda: listener._feed.assigned is not None and listener._feed.assigned.topic == new_topic)
    step_until(listener, lambda: listener.connected)

    assert listener._feed.assigned.partition == partition_for_namespace(NAMESPACE, 3)
    publish(producer, new_topic, 3, 12, value=3.0)
    step_until(listener, lambda: store.current.revision == 12)


def test_listener__broker_says_the_topic_is_unknown__asks_the_service_and_moves(
    make_listener, snapshot_server, make_topic, producer, caplog
):
    old_topic, new_topic = make_topic(1), make_topic(2)
    listener, store = connected_listener(make_listener, snapshot_server, old_topic)
    snapshot_server.body = snapshot_body(11, configs(timeout=2.5), new_topic, partitions=2)

    with caplog.at_level(logging.WARNING, logger="noreboot"):
        # As a fetch from a deleted topic reports it (librdkafka does not
        # always: the periodic refresh above is the safety net).
        listener._on_message_error(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, "Broker: Unknown topic or partition"))
        step_until(listener, lambda: listener.connected and listener._feed.assigned.topic == new_topic)

    assert any("asking the config service for the topic" in r.getMessage() for r in caplog.records)
    publish(producer, new_topic, 2, 12, value=3.0)
    step_until(listener, lambda: store.current.revision == 12)


# -- credentials from the service --------------------------------------------------------


def test_listener__no_bootstrap_given__uses_the_tokens_credentials_and_group(
    make_listener, snapshot_server, make_topic, producer
):
    topic = make_topic()
    credentials = credentials_body(BROKER, topic=topic, partitions=1)
    snapshot_server.credentials = credentials

    listener, store = connected_listener(
        make_listener, snapshot_server, topic, kafka_bootstrap=None, kafka_config={}
    )
    publish(producer, topic, 1, 12, value=3.0)
    step_until(listener, lambda: store.current.revision == 12)

    assert listener._feed._settings["group.id"] == credentials["username"]
    assert listener._feed._settings["bootstrap.servers"] == BROKER["bootstrap.servers"]
    assert len(snapshot_server.requests_to("POST", CREDENTIALS_PATH)) == 1


def test_listener__broker_refuses_the_credentials__asks_again_and_reconnects(
    make_listener, snapshot_server, make_topic, producer, caplog
):
    topic = make_topic()
    snapshot_server.credentials = credentials_body(BROKER, topic=topic, partitions=1)
    listener, store = connected_listener(
        make_listener, snapshot_server, topic, kafka_bootstrap=None, kafka_config={}
    )
    refused = KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error: Authentication failed")

    with caplog.at_level(logging.WARNING, logger="noreboot"):
        listener._on_kafka_error(refused)
        listener._on_kafka_error(refused)  # librdkafka says it at every attempt
        assert not listener.connected
        step_until(listener, lambda: listener.connected)

    assert len(snapshot_server.requests_to("POST", CREDENTIALS_PATH)) == 2
    assert listener.last_error == "Kafka: SASL authentication error: Authentication failed"
    assert len([r for r in caplog.records if "Kafka refused the credentials" in r.getMessage()]) == 1
    publish(producer, topic, 1, 12, value=3.0)
    step_until(listener, lambda: store.current.revision == 12)


def test_listener__service_gives_no_credentials__polls_the_snapshot(make_listener, snapshot_server):
    snapshot_server.credentials = credentials_body(BROKER)
    snapshot_server.credentials_status = 403
    listener, store = make_listener(kafka_bootstrap=None, kafka_config={}, poll_interval=0.05)

    step_until(listener, lambda: listener.feed == "polling" and listener.connected)
    snapshot_server.body = snapshot_body(revision=13, configs=configs(timeout=9.0))
    step_until(listener, lambda: store.current.revision == 13)

    assert store.current.values == {"timeout": 9.0}
    assert listener._feed.consumer is None and listener.lag is None


# -- divergence repair -----------------------------------------------------------------------


def test_listener__periodic_refresh_finds_other_values_at_the_same_revision__installs_served(
    make_listener, snapshot_server, make_topic, producer, caplog
):
    topic = make_topic()
    listener, store = connected_listener(make_listener, snapshot_server, topic, refresh_interval=0.5)
    publish(producer, topic, 1, 12, value=99.0)  # forged: the database never had it
    step_until(listener, lambda: store.current.revision == 12)
    # The database's revision 12; its own event is lost, or later than the refresh.
    snapshot_server.body = snapshot_body(revision=12, configs=configs(timeout=3.0), topic=topic, partitions=1)

    with caplog.at_level(logging.WARNING, logger="noreboot"):
        step_until(listener, lambda: store.current.values == {"timeout": 3.0})

    assert store.current.revision == 12
    assert any("digest mismatch" in r.getMessage() for r in caplog.records)


def test_listener__event_contradicts_the_one_applied_at_its_revision__resnapshots_at_once(
    make_listener, snapshot_server, make_topic, producer, caplog
):
    topic = make_topic()
    listener, store = connected_listener(make_listener, snapshot_server, topic)  # refresh only every 300 s
    publish(producer, topic, 1, 12, value=99.0)  # forged
    step_until(listener, lambda: store.current.revision == 12)
    snapshot_server.body = snapshot_body(revision=12, configs=configs(timeout=3.0), topic=topic, partitions=1)

    with caplog.at_level(logging.WARNING, logger="noreboot"):
        publish(producer, topic, 1, 12, value=99.0)  # a duplicate of what was applied: dropped
        publish(producer, topic, 1, 12, value=3.0)  # the genuine event of revision 12
        step_until(listener, lambda: store.current.values == {"timeout": 3.0}, timeout=10)

    messages = [r.getMessage() for r in caplog.records]
    assert any("revision 12 was applied with other content" in message for message in messages)
    assert any("digest mismatch" in message for message in messages)


# -- a restored database (another epoch) ------------------------------------------------------


def test_listener__holding_revision_50_of_epoch_x_shown_revision_20_of_epoch_y__installs_it_and_applies_later_events(
    make_listener, snapshot_server, make_topic, producer, caplog
):
    topic = make_topic()
    listener, store = connected_listener(make_listener, snapshot_server, topic, revision=50, refresh_interval=0.5)
    assert (store.current.epoch, store.current.revision) == ("epoch-1", 50)
    # The database was restored from a backup taken at revision 20, and given a new epoch.
    snapshot_server.body = snapshot_body(20, configs(timeout=7.0), topic, partitions=1, epoch="epoch-2")

    with caplog.at_level(logging.WARNING, logger="noreboot"):
        step_until(listener, lambda: store.current.epoch == "epoch-2")
    assert store.current.revision == 20 and store.current.values == {"timeout": 7.0}
    assert any("the database was restored" in r.getMessage() for r in caplog.records)

    step_until(listener, lambda: listener.connected)
    publish(producer, topic, 1, 21, value=8.0, epoch="epoch-2")
    publish(producer, topic, 1, 22, value=9.0, epoch="epoch-2")
    step_until(listener, lambda: store.current.revision == 22)
    assert store.current.values == {"timeout": 9.0} and store.current.epoch == "epoch-2"


def test_listener__event_of_another_epoch_below_the_held_revision__resnapshots_instead_of_ignoring_it(
    make_listener, snapshot_server, make_topic, producer, caplog
):
    topic = make_topic()
    listener, store = connected_listener(make_listener, snapshot_server, topic, revision=50)  # refresh every 300 s
    snapshot_server.body = snapshot_body(21, configs(timeout=8.0), topic, partitions=1, epoch="epoch-2")

    with caplog.at_level(logging.WARNING, logger="noreboot"):
        publish(producer, topic, 1, 21, value=8.0, epoch="epoch-2")
        step_until(listener, lambda: store.current.epoch == "epoch-2", timeout=10)

    assert (store.current.revision, store.current.values) == (21, {"timeout": 8.0})
    assert any("event of epoch epoch-2, holding epoch epoch-1" in r.getMessage() for r in caplog.records)
    step_until(listener, lambda: listener.connected)
    publish(producer, topic, 1, 22, value=9.0, epoch="epoch-2")
    step_until(listener, lambda: store.current.revision == 22)


# -- lag -----------------------------------------------------------------------------------


def test_feed_lag__messages_fetched_but_not_read__counted_until_read(make_topic, producer):
    topic = make_topic()
    feed = KafkaFeed(
        {**BROKER, "group.id": f"sdk-test-{uuid.uuid4().hex[:8]}"},
        stopping=threading.Event(),
        on_error=lambda error: None,
        on_outage_error=lambda text: None,
    )
    try:
        for revision in (1, 2, 3):
            publish(producer, topic, 1, revision)
        feed.assign(TopicPartition(topic, 0), 0)
        read = poll_message(feed)

        assert read.offset() == 0
        assert feed.lag() == 2  # the fetch that brought offset 0 saw the high offset 3
        poll_message(feed), poll_message(feed)
        assert feed.lag() == 0
    finally:
        feed.close()


def test_listener__connected_and_idle__lag_zero(make_listener, snapshot_server, make_topic):
    topic = make_topic()
    listener, _ = connected_listener(make_listener, snapshot_server, topic)

    step_for(listener, 1.2)  # lag is measured once a second

    assert listener.lag == 0


def poll_message(feed, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = feed.poll(0.1)
        if message is not None and message.error() is None:
            return message
    raise AssertionError("no message in time")
