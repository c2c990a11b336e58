"""/readyz: one check per process per second answers every probe, through the
process's one admin client (apps/configs/broker_admin.py), and a Kafka that
does not answer costs a bounded wait."""

import time

import pytest
from config_service import health

from apps.configs import broker_admin
from tests.conftest import body

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def outbox_lag_not_under_test(settings):
    # Events that earlier tests wrote with no relay running stay unpublished in
    # the session's database; readiness with a live relay is test_stack's subject.
    settings.OUTBOX_READY_LAG_SECONDS = 10**9


@pytest.fixture
def fresh_readiness():
    health.readiness.clear()
    yield health.readiness
    health.readiness.clear()


@pytest.fixture
def kafka_checks(monkeypatch):
    """Counts the Kafka checks /readyz makes (the real check runs)."""
    calls = []
    real = broker_admin.broker_reachable

    def counted(*args, **kwargs):
        calls.append(kwargs.get("timeout"))
        return real(*args, **kwargs)

    monkeypatch.setattr(health, "broker_reachable", counted)
    return calls


def test_readyz__many_probes_within_a_second__one_check_and_the_same_answer(client, fresh_readiness, kafka_checks):
    started = time.monotonic()
    answers = [client.get("/readyz") for _ in range(20)]
    assert time.monotonic() - started < 1.0
    assert {response.status_code for response in answers} == {200}
    assert len({response.content for response in answers}) == 1
    assert len(kafka_checks) == 1


def test_readyz__after_the_cache_second__checks_again(client, fresh_readiness, kafka_checks, settings):
    settings.READY_CACHE_SECONDS = 0.05
    client.get("/readyz")
    deadline = time.monotonic() + 1.0
    while len(kafka_checks) < 2 and time.monotonic() < deadline:
        client.get("/readyz")
    assert len(kafka_checks) == 2


def test_readyz__admin_client__one_per_process_reused(client, fresh_readiness, settings):
    settings.READY_CACHE_SECONDS = 0
    client.get("/readyz")
    first = broker_admin._admin_client()
    for _ in range(3):
        assert client.get("/readyz").status_code == 200
    assert broker_admin._admin_client() is first


def test_readyz__kafka_not_answering__503_within_the_bound(client, fresh_readiness, kafka_checks, settings):
    settings.READY_KAFKA_TIMEOUT_SECONDS = 0.3
    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:1"  # nothing listens there
    broker_admin._admin_client.cache_clear()
    try:
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
    finally:
        broker_admin._admin_client.cache_clear()
    assert response.status_code == 503 and "kafka" in body(response)["down"]
    assert kafka_checks == [0.3]
    assert elapsed < 1.5
