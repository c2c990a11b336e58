"""A broker restarted after a principal's credential was deleted (a revoked
token) still takes every SCRAM login it should: the platform's and the live
principals'. On a node of its own (scripts/kafka.sh, its own KAFKA_HOME and
ports); the shared broker of the rest of the suite is never touched.

Kafka 4.4.0 rebuilds its SCRAM credentials on a restart by replaying the
metadata log since the last snapshot into an empty set, and loses them all when
the replay visits a deleted credential first: deploy/kafka's template has a
snapshot taken within seconds, so that a restart replays onto one instead."""

from __future__ import annotations

import itertools
import time

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from apps.configs import broker_admin
from apps.configs.broker_admin import scram_credential_delete, scram_credential_upsert
from tests.support.kafka import LocalCluster

METADATA_SNAPSHOT_WAIT = 30  # s; the template asks for one every 10 s


def visited_first(prefix: str) -> str:
    """A user name that a java.util.HashMap of up to 768 names visits first:
    String.hashCode(), spread as HashMap.hash() does, lands in bucket 0.
    Deleted, it is the credential that sets off the loss on a replay."""
    for n in itertools.count():
        name = f"{prefix}{n}"
        code = 0
        for character in name:
            code = (31 * code + ord(character)) & 0xFFFFFFFF
        if (code ^ (code >> 16)) & 1023 == 0:
            return name


def logs_in(bootstrap: str, username: str, password: str) -> bool:
    admin = AdminClient({
        "bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": username, "sasl.password": password,
        "log_level": 0,
    })
    try:
        return bool(admin.list_topics(timeout=5).brokers)
    except KafkaException:
        return False


def metadata_snapshots(node: LocalCluster) -> list[str]:
    """KRaft snapshots taken by the node itself (not the one formatting wrote at offset 0)."""
    directory = node.node_dir(1) / "data" / "__cluster_metadata-0"
    return [path.name for path in directory.glob("*.checkpoint") if not path.name.startswith("0" * 20 + "-")]


@pytest.fixture
def node(tmp_path_factory, settings):
    """The node, and the platform's admin client (one per process) on it while the test runs."""
    node = LocalCluster(tmp_path_factory.mktemp("kafka-restart"), brokers=1)
    try:
        node.start()
        settings.KAFKA_BOOTSTRAP_SERVERS = node.platform_env["KAFKA_BOOTSTRAP_SERVERS"]
        settings.KAFKA_SASL_PASSWORD = node.platform_password()
        broker_admin._admin_client.cache_clear()
        yield node
    finally:
        broker_admin._admin_client.cache_clear()
        node.stop()


def test_broker_restarted__after_a_credential_deleted__platform_and_live_principals_log_in_deleted_does_not(node):
    bootstrap = node.platform_env["KAFKA_BOOTSTRAP_SERVERS"]
    deleted = visited_first("nrb-restart-deleted-")
    scram_credential_upsert("nrb-restart-kept", "kept-password")
    scram_credential_upsert(deleted, "deleted-password")
    scram_credential_delete(deleted)

    deadline = time.monotonic() + METADATA_SNAPSHOT_WAIT
    while not metadata_snapshots(node):
        assert time.monotonic() < deadline, f"no metadata snapshot within {METADATA_SNAPSHOT_WAIT}s"
        time.sleep(0.5)
    node.stop()
    node.start()  # scripts/kafka.sh waits until the platform principal logs in

    assert logs_in(bootstrap, "nrb-restart-kept", "kept-password")
    assert not logs_in(bootstrap, deleted, "deleted-password")
