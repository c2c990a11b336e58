"""Tenant isolation at the broker (DESIGN, "Kafka security"), against the real
broker the project's script starts: no anonymous access on any listener, each
service token reads its own tenant's topic only, and a revoked token loses its
feed."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from django.conf import settings

from apps.configs.broker_admin import topic_partition_count
from apps.configs.events import route_for
from apps.configs.services import config_set
from apps.tenants import services as tenant_services
from tests.conftest import bearer_client, body
from tests.support.kafka import kafka_script

pytestmark = pytest.mark.django_db(transaction=True)

AUTHORIZATION_ERRORS = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED,
}


def listeners() -> dict[str, dict]:
    """Every listener of the broker, with what a client needs to reach it but credentials."""
    host = settings.KAFKA_BOOTSTRAP_SERVERS.split(",")[0].rsplit(":", 1)[0]
    internal_port = int(settings.KAFKA_BOOTSTRAP_SERVERS.split(",")[0].rsplit(":", 1)[1])
    return {
        "internal": {"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS},
        "controller": {"bootstrap.servers": f"{host}:{internal_port + 1}"},
        "client-tls": {
            "bootstrap.servers": settings.KAFKA_CLIENT_BOOTSTRAP_SERVERS,
            "security.protocol": "SSL", "ssl.ca.location": settings.KAFKA_CA_FILE,
        },
        "client-plaintext": {"bootstrap.servers": settings.KAFKA_CLIENT_BOOTSTRAP_SERVERS},
    }


def credentials_of(client, namespace) -> dict:
    response = client.post(f"/api/v1/namespaces/{namespace.path}/kafka-credentials/", {}, format="json")
    assert response.status_code == 200, response.content
    return body(response)


def token_client(namespace, change_context):
    _, secret = tenant_services.service_token_create(namespace=namespace, name="isolation", context=change_context)
    return bearer_client(secret), secret


def consumer_config(credentials: dict, **extra) -> dict:
    return {
        "bootstrap.servers": credentials["bootstrap_servers"],
        "security.protocol": credentials["security_protocol"],
        "sasl.mechanism": credentials["sasl_mechanism"],
        "sasl.username": credentials["username"],
        "sasl.password": credentials["password"],
        "ssl.ca.pem": credentials["ca_pem"],
        "group.id": credentials["username"],
        "enable.auto.commit": False,
        "fetch.wait.max.ms": 50,
        **extra,
    }


def may_describe_topic(credentials: dict, timeout: float = 5) -> bool:
    """Whether these credentials log in and may describe their topic."""
    consumer = Consumer(consumer_config(credentials))
    try:
        metadata = consumer.list_topics(credentials["topic"], timeout=timeout).topics[credentials["topic"]]
    except KafkaException:
        return False  # the login was refused: no broker answered
    finally:
        consumer.close()
    return metadata.error is None


def wait_until_may_describe(credentials: dict, expected: bool = True, timeout: float = 30) -> None:
    """kafka-credentials answers once the relay made the principal, or after a
    few seconds if the relay is slow (clients retry): wait for the broker."""
    deadline = time.monotonic() + timeout
    while may_describe_topic(credentials, timeout=3) != expected:
        assert time.monotonic() < deadline, f"may describe {credentials['topic']}: not {expected} after {timeout} s"
        time.sleep(0.2)


def first_error(consumer: Consumer, timeout: float) -> KafkaError | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is not None and message.error() is not None and message.error().code() != KafkaError._PARTITION_EOF:
            return message.error()
    return None


def read_values(consumer: Consumer, key: str, count: int, timeout: float) -> list[dict]:
    found: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is None or message.error() is not None or message.key() != key.encode():
            continue
        found.append(json.loads(message.value()))
    return found


def produce_error(config: dict, topic: str) -> object:
    """What a produce to `topic` comes back with (None: it was accepted)."""
    outcome: list[object] = []
    producer = Producer({**config, "message.timeout.ms": 2500, "acks": "all"})
    producer.produce(topic, key=b"forged", value=b"{}", on_delivery=lambda error, _message: outcome.append(error))
    producer.flush(10)
    return outcome[0] if outcome else "no delivery report"


@pytest.mark.parametrize("listener", ["internal", "controller", "client-tls", "client-plaintext"])
def test_broker__client_without_credentials__can_neither_list_read_nor_produce(listener, relay, make_namespace):
    namespace = make_namespace()
    topic = route_for(namespace).topic
    config = {**listeners()[listener], "socket.timeout.ms": 3000}

    consumer = Consumer({**config, "group.id": f"anonymous-{uuid.uuid4()}"})
    try:
        with pytest.raises(KafkaException):
            consumer.list_topics(timeout=2)
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            assert message is None or message.error() is not None, "an anonymous client read a message"
    finally:
        consumer.close()
    assert produce_error(config, topic) is not None


def test_token_credentials__own_topic_read__other_tenant_produce_and_foreign_group_refused(
    relay, make_namespace, change_context
):
    namespace_a, namespace_b = make_namespace(), make_namespace()
    client_a, _ = token_client(namespace_a, change_context)
    config_set(namespace=namespace_a, name="flag", value=True, context=change_context)
    config_set(namespace=namespace_b, name="flag", value=False, context=change_context)
    credentials = credentials_of(client_a, namespace_a)
    assert credentials["topic"] == route_for(namespace_a).topic
    assert credentials["security_protocol"] == "SASL_SSL" and credentials["sasl_mechanism"] == "SCRAM-SHA-512"

    # Its own tenant's topic: readable.
    own = Consumer(consumer_config(credentials, **{"auto.offset.reset": "earliest"}))
    own.assign([TopicPartition(credentials["topic"], p, OFFSET_BEGINNING) for p in range(credentials["partitions"])])
    try:
        (event,) = read_values(own, namespace_a.path, 1, timeout=30)
        assert event["name"] == "flag" and event["value"] is True
    finally:
        own.close()

    # Another tenant's topic: refused by the broker, to describe and to read.
    other_topic = route_for(namespace_b).topic
    other = Consumer(consumer_config(credentials))
    try:
        metadata = other.list_topics(other_topic, timeout=10).topics[other_topic]
        assert metadata.error is not None and metadata.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
        other.subscribe([other_topic])
        error = first_error(other, timeout=20)
        assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    finally:
        other.close()

    # Producing, even to its own topic: refused.
    error = produce_error(consumer_config(credentials), credentials["topic"])
    assert isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error

    # A consumer group other than its own: refused.
    joiner = Consumer(consumer_config(credentials, **{"group.id": f"someone-else-{uuid.uuid4()}"}))
    joiner.subscribe([credentials["topic"]])
    try:
        error = first_error(joiner, timeout=20)
        assert error is not None and error.code() in AUTHORIZATION_ERRORS, error
    finally:
        joiner.close()


def test_token_credentials__called_again__same_password_and_rotate_replaces_it(
    relay, make_namespace, change_context
):
    namespace = make_namespace()
    client, _ = token_client(namespace, change_context)
    first, again = credentials_of(client, namespace), credentials_of(client, namespace)
    assert again["password"] == first["password"]
    response = client.post(f"/api/v1/namespaces/{namespace.path}/kafka-credentials/", {"rotate": True}, format="json")
    assert response.status_code == 200
    rotated = body(response)
    assert rotated["password"] != first["password"] and rotated["username"] == first["username"]

    assert not may_describe_topic(first)
    assert may_describe_topic(rotated, timeout=10)


def test_kafka_credentials__a_signed_in_person__403_and_no_principal(editor):
    client, namespace, _user = editor
    response = client.post(f"/api/v1/namespaces/{namespace.path}/kafka-credentials/", {}, format="json")
    assert response.status_code == 403
    assert body(response)["error"]["code"] == "permission_denied"


def test_token_revoked__connected_consumer_stops_within_90s_and_new_login_refused(
    relay, make_namespace, change_context
):
    namespace = make_namespace()
    token_api, _ = token_client(namespace, change_context)
    credentials = credentials_of(token_api, namespace)
    consumer = Consumer(consumer_config(credentials))
    consumer.assign([TopicPartition(credentials["topic"], p, OFFSET_BEGINNING) for p in range(credentials["partitions"])])
    try:
        config_set(namespace=namespace, name="n", value=0, context=change_context)
        assert len(read_values(consumer, namespace.path, 1, timeout=30)) == 1

        token = namespace.tokens.get()
        tenant_services.service_token_revoke(token=token, context=change_context)
        revoked_at = time.monotonic()
        # Writes keep coming; the revoked consumer must stop seeing them.
        received_after = 0
        last_received_at = revoked_at
        for value in range(1, 1000):
            config_set(namespace=namespace, name="n", value=value, context=change_context)
            if read_values(consumer, namespace.path, 1, timeout=0.5):
                received_after += 1
                last_received_at = time.monotonic()
            if time.monotonic() - last_received_at > 10 or time.monotonic() - revoked_at > 90:
                break
        assert last_received_at - revoked_at < 90
        assert time.monotonic() - last_received_at > 10, "still receiving 90 s after revocation"
    finally:
        consumer.close()

    assert not may_describe_topic(credentials)
    assert token_api.post(f"/api/v1/namespaces/{namespace.path}/kafka-credentials/", {}, format="json").status_code == 401


@pytest.mark.skipif(settings.KAFKA_TOPIC_LAYOUT != "per-tenant", reason="the shared layout has one topic")
def test_tenant_created__its_topic_exists_with_the_configured_partitions(relay, make_namespace):
    namespace = make_namespace()
    topic = route_for(namespace).topic
    assert topic == f"{settings.KAFKA_TOPIC}.{namespace.path.split('/')[0]}"
    deadline = time.monotonic() + 30
    while topic_partition_count(topic, timeout=2) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert topic_partition_count(topic) == route_for(namespace).partitions


def test_kafka_resync__broker_lost_a_principal__recreated_and_reads_again(relay, make_namespace, change_context):
    from django.core.management import call_command

    from apps.configs.broker_admin import principal_acls_delete, scram_credential_delete
    from apps.tenants.kafka_principals import principal_name

    namespace = make_namespace()
    client, _ = token_client(namespace, change_context)
    credentials = credentials_of(client, namespace)
    token = namespace.tokens.get()
    # As if the broker had been re-created: the principal is gone.
    principal_acls_delete(principal_name(token.secret_hash))
    scram_credential_delete(principal_name(token.secret_hash))

    call_command("kafka_resync")

    wait_until_may_describe(credentials)


@pytest.mark.stops_shared_service
def test_broker_tasks__kafka_stopped_while_tenant_and_token_created_and_revoked__all_done_after_restart(
    relay, make_namespace, change_context
):
    kept = make_namespace()
    kept_api, _ = token_client(kept, change_context)
    kept_credentials = credentials_of(kept_api, kept)
    wait_until_may_describe(kept_credentials)
    kafka_script("stop")
    try:
        # The changes commit at once; their broker tasks wait in the outbox.
        namespace = make_namespace()
        config_set(namespace=namespace, name="n", value=1, context=change_context)
        _, secret = tenant_services.service_token_create(namespace=namespace, name="later", context=change_context)
        tenant_services.service_token_revoke(token=kept.tokens.get(), context=change_context)
    finally:
        kafka_script("start")
    new_credentials = credentials_of(bearer_client(secret), namespace)
    wait_until_may_describe(new_credentials, timeout=60)
    wait_until_may_describe(kept_credentials, expected=False)
    consumer = Consumer(consumer_config(new_credentials))
    consumer.assign([TopicPartition(new_credentials["topic"], p, OFFSET_BEGINNING)
                     for p in range(new_credentials["partitions"])])
    try:
        assert [event["value"] for event in read_values(consumer, namespace.path, 1, timeout=30)] == [1]
    finally:
        consumer.close()
