"""Metrics and logs of the real processes: the API under its server with two
workers and the relay, sharing one metrics folder, against PostgreSQL and Kafka."""

import json
import re
import time

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tests.support.kafka import kafka_script
from tests.support.processes import ApiServer, RelayProcess, http_call

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stack(settings, tmp_path, editor):
    """API (2 workers) and relay as processes, with the editor's token."""
    client, namespace, user = editor
    database = settings.DATABASES["default"]["NAME"]
    shared = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "NOREBOOT_LOG_FORMAT": "json"}
    api, relay = ApiServer(database, **shared), RelayProcess(database, **shared)
    api.start()
    relay.start()
    yield api, relay, namespace, str(AccessToken.for_user(user))
    relay.stop()
    api.stop()


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one series, summed over the label sets that match."""
    total = 0.0
    for line in metrics.splitlines():
        match = re.match(rf"^{name}(?:{{(.*)}})? (\S+)$", line)
        if match and all(f'{key}="{value}"' in (match.group(1) or "") for key, value in labels.items()):
            total += float(match.group(2))
    return total


def wait_for_metric(api: ApiServer, name: str, expected, timeout: float = 60, **labels) -> str:
    deadline = time.monotonic() + timeout
    while True:
        metrics = http_call(f"{api.url}/metrics")[1]
        if expected(sample(metrics, name, **labels)):
            return metrics
        assert time.monotonic() < deadline, f"{name} {labels}: {sample(metrics, name, **labels)}"
        time.sleep(0.2)


def test_metrics__writes_through_two_workers__counters_aggregate_and_relay_latency_filled(stack):
    api, relay, namespace, token = stack
    url = f"{api.url}/api/v1/namespaces/{namespace.path}/configs/limit/"
    for value in range(6):
        assert http_call(url, "PUT", token, {"value": value})[0] == 201
    route = "api/v1/namespaces/<slug:tenant>/<slug:environment>/<slug:service>/configs/<str:name>/"
    metrics = wait_for_metric(api, "noreboot_relay_publish_latency_seconds_count", lambda v: v >= 6)
    assert sample(metrics, "noreboot_http_requests_total", route=route, method="PUT", status="201") == 6
    assert sample(metrics, "noreboot_config_writes_total", tenant=namespace.tenant.slug, op="upsert") == 6
    assert sample(metrics, "noreboot_http_request_duration_seconds_count", route=route, method="PUT") == 6
    assert sample(metrics, "noreboot_relay_events_published_total") >= 6
    assert sample(metrics, "noreboot_outbox_backlog_events") == 0


@pytest.mark.stops_shared_service
def test_metrics__kafka_stopped__backlog_rises_then_returns_to_zero(stack):
    api, relay, namespace, token = stack
    url = f"{api.url}/api/v1/namespaces/{namespace.path}/configs/n/"
    kafka_script("stop")
    try:
        for value in range(3):
            assert http_call(url, "PUT", token, {"value": value})[0] == 201
        metrics = wait_for_metric(api, "noreboot_outbox_backlog_events", lambda v: v >= 3)
        assert sample(metrics, "noreboot_outbox_oldest_unpublished_age_seconds") > 0
    finally:
        kafka_script("start")
    wait_for_metric(api, "noreboot_outbox_backlog_events", lambda v: v == 0)


def test_logs__one_write__its_request_id_in_the_api_line_and_the_relay_line(stack):
    api, relay, namespace, token = stack
    url = f"{api.url}/api/v1/namespaces/{namespace.path}/configs/traced/"
    assert http_call(url, "PUT", token, {"value": True}, X_Request_ID="trace-me-42")[0] == 201
    relay.wait_for_output("trace-me-42")
    api_line = next(json.loads(line) for line in api.output().splitlines() if "trace-me-42" in line)
    relay_line = next(json.loads(line) for line in relay.output().splitlines() if "trace-me-42" in line)
    assert api_line["request_id"] == "trace-me-42" and api_line["status"] == 201
    assert api_line["namespace"] == namespace.path and api_line["actor"] and api_line["duration_ms"] > 0
    assert relay_line["request_id"] == "trace-me-42" and relay_line["namespace"] == namespace.path
    assert relay_line["revision"] == 1 and relay_line["latency_ms"] >= 0


def test_metrics__caller_not_on_loopback_and_no_token__403(client):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    assert client.get("/metrics").status_code == 200
