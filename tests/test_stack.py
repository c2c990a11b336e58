"""The stack itself: real PostgreSQL, real Kafka, the Django project layout."""

import uuid
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Producer
from django.conf import settings
from django.db import connection

from tests.conftest import body
from tests.support.kafka import TopicTail, kafka_script

ROOT = Path(__file__).resolve().parents[1]


def test_import_platform__in_the_test_process__is_the_standard_library():
    import platform

    assert hasattr(platform, "python_version")
    assert Path(platform.__file__).parent != ROOT / "platform"


def test_kafka__produce_then_consume_on_config_updates__message_round_trips():
    tail = TopicTail(settings.KAFKA_BOOTSTRAP_SERVERS, "config_updates")
    key = f"stack-test/{uuid.uuid4().hex}"
    producer = Producer({"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS, "acks": "all"})
    producer.produce("config_updates", key=key.encode(), value=b'{"name": "probe", "value": 1}')
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


@pytest.mark.django_db
def test_readyz__postgres_and_kafka_up__200(client):
    response = client.get("/readyz")
    assert response.status_code == 200, body(response)
    assert body(response)["down"] == []


@pytest.mark.django_db
def test_readyz__kafka_stopped__503_naming_kafka(client):
    kafka_script("stop")
    try:
        response = client.get("/readyz")
    finally:
        kafka_script("start")
    assert response.status_code == 503
    assert "kafka" in body(response)["down"]
    assert "postgresql" not in body(response)["down"]
    assert client.get("/readyz").status_code == 200


def test_docker_compose__services_ports_and_variables__match_the_local_stack():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "kafka", "api", "relay", "demo-client"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka")
    assert "8000:8000" in services["api"]["ports"]
    settings_source = (ROOT / "platform" / "config_service" / "settings.py").read_text()
    for name in ("api", "relay"):
        environment = services[name]["environment"]
        for variable in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC", "KAFKA_PARTITIONS"):
            assert variable in environment, (name, variable)
            assert f'"{variable}"' in settings_source, variable
    demo = services["demo-client"]["environment"]
    for variable in ("NOREBOOT_NAMESPACE", "NOREBOOT_URL", "NOREBOOT_TOKEN", "NOREBOOT_KAFKA_BOOTSTRAP"):
        assert variable in demo
