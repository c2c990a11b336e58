"""The stack itself: real PostgreSQL, real Kafka, the Django project layout."""

import time
import uuid
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Producer
from django.db import connection

from apps.configs.broker_admin import topic_ensure
from apps.configs.events import config_topic_for_tenant, config_topic_partitions
from apps.configs.publisher import platform_client_config
from tests.conftest import body
from tests.support.kafka import TopicTail, kafka_script

ROOT = Path(__file__).resolve().parents[1]


def test_import_platform__in_the_test_process__is_the_standard_library():
    import platform

    assert hasattr(platform, "python_version")
    assert Path(platform.__file__).parent != ROOT / "platform"


def test_kafka__produce_then_consume_on_a_config_topic__message_round_trips():
    tenant = f"stack-{uuid.uuid4().hex[:10]}"
    topic = config_topic_for_tenant(tenant)
    assert topic_ensure(topic, config_topic_partitions()) == config_topic_partitions()
    tail = TopicTail()
    key = f"{tenant}/probe/probe"
    producer = Producer({**platform_client_config(), "acks": "all"})
    producer.produce(topic, key=key.encode(), value=b'{"name": "probe", "value": 1}')
    assert producer.flush(10) == 0
    try:
        (received,) = tail.collect(key, 1, timeout=20)
    finally:
        tail.close()
    assert received["name"] == "probe" and received["value"] == 1


@pytest.mark.django_db
def test_postgres__write_then_read__row_comes_back():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE probe (id serial primary key, note text)")
        cursor.execute("INSERT INTO probe (note) VALUES (%s) RETURNING id", ["hello"])
        (row_id,) = cursor.fetchone()
        cursor.execute("SELECT note FROM probe WHERE id = %s", [row_id])
        assert cursor.fetchone() == ("hello",)
        cursor.execute("SELECT version()")
        assert "PostgreSQL" in cursor.fetchone()[0]


def test_healthz__process_alive__200(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and body(response) == {"status": "ok"}


def ready_within(client, seconds: float):
    """/readyz until it answers 200 (it caches its answer for a second, and a
    relay needs a moment to publish what earlier tests left in the outbox)."""
    deadline = time.monotonic() + seconds
    while (response := client.get("/readyz")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    return response


def test_readyz__postgres_and_kafka_up_and_the_relay_running__200(client, relay):
    response = ready_within(client, 30)
    assert response.status_code == 200, body(response)
    assert body(response)["down"] == []


@pytest.mark.stops_shared_service
def test_readyz__kafka_stopped__503_naming_kafka(client, relay, settings):
    settings.READY_CACHE_SECONDS = 0  # each call checks afresh
    assert ready_within(client, 30).status_code == 200
    kafka_script("stop")
    try:
        response = client.get("/readyz")
    finally:
        kafka_script("start")
    assert response.status_code == 503
    assert "kafka" in body(response)["down"]
    assert "postgresql" not in body(response)["down"]
    assert ready_within(client, 30).status_code == 200


def test_docker_compose__services_ports_and_variables__match_the_local_stack():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "kafka", "api", "relay", "demo-client"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka")
    assert "8000:8000" in services["api"]["ports"]
    # The relay outlives database outages by itself; a crash is the orchestrator's to restart.
    assert services["relay"]["restart"] == "unless-stopped"
    settings_source = (ROOT / "platform" / "config_service" / "settings.py").read_text()
    kafka_login = ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD_FILE")
    kafka_clients = ("KAFKA_CLIENT_BOOTSTRAP_SERVERS", "KAFKA_CA_FILE")
    platform_variables = ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC", "KAFKA_PARTITIONS")
    for name in ("api", "relay"):
        environment = services[name]["environment"]
        for variable in platform_variables + kafka_login + kafka_clients:
            assert variable in environment, (name, variable)
            # A secret's X_FILE may be read through X's name (secret_from_env_or_file).
            read_as = {f'"{variable}"', f'"{variable.removesuffix("_FILE")}"'}
            assert any(name_in_code in settings_source for name_in_code in read_as), variable
        # The platform logs in with what the broker's own home holds.
        assert "kafka-home:/kafka-home:ro" in services[name]["volumes"], name
        assert environment["KAFKA_SASL_PASSWORD_FILE"].startswith("/kafka-home/"), name
        assert environment["KAFKA_CA_FILE"].startswith("/kafka-home/"), name
    # The broker is advertised, and its certificate issued, where the platform looks for it.
    platform = services["api"]["environment"]
    for name in ("kafka", "kafka-secrets"):
        assert services[name]["environment"]["KAFKA_HOME"] == "/kafka-home", name
        assert services[name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == platform["KAFKA_BOOTSTRAP_SERVERS"], name
    client_port = platform["KAFKA_CLIENT_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1]
    assert services["kafka"]["environment"]["KAFKA_CLIENT_PORT"] == client_port
    # A client service needs the API, its namespace and its token; Kafka credentials come from the API.
    demo = services["demo-client"]["environment"]
    assert {"NOREBOOT_NAMESPACE", "NOREBOOT_URL", "NOREBOOT_TOKEN"} <= set(demo)
    assert "NOREBOOT_KAFKA_BOOTSTRAP" not in demo
