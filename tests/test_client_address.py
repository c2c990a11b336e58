"""Who the caller is, as throttles, audit and metrics see it (issue 16, points
2, 3 and 14): the admin's sign-in throttled like the others, X-Forwarded-For
believed only from a trusted proxy, and metrics no caller can inflate or read
without the right."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from tests.conftest import body
from tests.support.processes import RelayProcess, free_port, http_call

PROXY = "10.9.0.5"


def limits(settings, **rates: str) -> None:
    settings.NOREBOOT_THROTTLE_RATES = dict(settings.NOREBOOT_THROTTLE_RATES, **rates)


# --- 2. The Django admin's sign-in ----------------------------------------


@pytest.mark.django_db
def test_admin_login__repeated_failures__429_with_retry_after_and_another_ip_still_signs_in(make_user, settings):
    limits(settings, login_ip="3/m", login_username="100/m")
    staff = make_user(password="right-password", is_staff=True)

    def sign_in(password: str, ip: str):
        return Client(REMOTE_ADDR=ip).post("/admin/login/?next=/admin/",
                                           {"username": staff.username, "password": password})

    assert [sign_in("wrong", "10.0.5.1").status_code for _ in range(4)] == [200, 200, 200, 429]
    throttled = sign_in("right-password", "10.0.5.1")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert sign_in("right-password", "10.0.5.2").status_code == 302


@pytest.mark.django_db
def test_admin_login__one_username_from_many_ips__429(make_user, settings):
    limits(settings, login_ip="100/m", login_username="2/m")
    staff = make_user(password="right-password", is_staff=True)
    statuses = [
        Client(REMOTE_ADDR=f"10.0.6.{i}").post("/admin/login/", {"username": staff.username, "password": "wrong"})
        .status_code for i in range(3)
    ]
    assert statuses == [200, 200, 429]


# --- 3. Trusted proxies ----------------------------------------------------


def login_via(forwarded_for: str, username: str, peer: str = PROXY):
    return APIClient(REMOTE_ADDR=peer).post(
        "/api/v1/auth/token/", {"username": username, "password": "wrong"}, format="json",
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


@pytest.mark.django_db
def test_login_throttle__behind_a_trusted_proxy__counted_per_client_not_per_proxy(make_user, settings):
    settings.TRUSTED_PROXIES = ["10.9.0.0/16"]
    limits(settings, login_ip="2/m", login_username="100/m")
    user = make_user(password="right-password")

    first_client = [login_via("198.51.100.7", user.username).status_code for _ in range(3)]
    other_client = login_via("198.51.100.8", user.username).status_code

    assert first_client == [401, 401, 429]
    assert other_client == 401


@pytest.mark.django_db
def test_login_throttle__client_writes_its_own_forwarded_for__the_proxys_entry_counts(make_user, settings):
    settings.TRUSTED_PROXIES = ["10.9.0.0/16"]
    limits(settings, login_ip="2/m", login_username="100/m")
    user = make_user(password="right-password")

    # Each time a different made-up address, then the one the proxy appended.
    statuses = [login_via(f"192.0.2.{i}, 198.51.100.9", user.username).status_code for i in range(3)]

    assert statuses == [401, 401, 429]


@pytest.mark.django_db
def test_login_throttle__forwarded_for_from_an_untrusted_peer__ignored(make_user, settings):
    settings.TRUSTED_PROXIES = ["10.9.0.0/16"]
    limits(settings, login_ip="2/m", login_username="100/m")
    user = make_user(password="right-password")

    statuses = [login_via(f"198.51.100.{i}", user.username, peer="203.0.113.5").status_code for i in range(3)]

    assert statuses == [401, 401, 429]


@pytest.mark.django_db
def test_audit_source_ip__write_through_a_trusted_proxy__the_clients_address(editor, settings):
    settings.TRUSTED_PROXIES = ["10.9.0.0/16"]
    client, namespace, _ = editor
    response = client.put(f"/api/v1/namespaces/{namespace.path}/configs/flag/", {"value": True}, format="json",
                          REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert response.status_code == 201, body(response)
    assert AuditEvent.objects.get(namespace=namespace, target="flag").source_ip == "198.51.100.7"


@pytest.mark.django_db
def test_metrics__loopback_caller_with_a_trusted_proxy_configured__403(client, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


@pytest.mark.django_db
def test_metrics__loopback_caller_and_no_proxy__200(client, settings):
    settings.TRUSTED_PROXIES = []
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


# --- 14. Metrics no caller can inflate, and the relay's port ----------------


@pytest.mark.django_db
def test_http_metrics__made_up_methods__one_label_value(client, settings):
    settings.METRICS_TOKEN = ""
    for method in ("BREW", "WHEN", "PROPFINDX"):
        client.generic(method, "/api/v1/namespaces/")

    metrics = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()

    assert not any(f'method="{method}"' in metrics for method in ("BREW", "WHEN", "PROPFINDX"))
    assert 'method="other"' in metrics


@pytest.fixture
def relay_with_metrics(transactional_db, settings):
    """The relay as its own process, serving metrics on a port of its own, with a metrics token."""
    port = free_port()
    relay = RelayProcess(settings.DATABASES["default"]["NAME"], NOREBOOT_RELAY_METRICS_PORT=str(port),
                         NOREBOOT_METRICS_TOKEN="relay-metrics-token")
    relay.start()
    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.monotonic() + 30
    while True:
        try:
            http_call(url)
            break
        except OSError:
            assert time.monotonic() < deadline, relay.output()[-2000:]
            time.sleep(0.1)
    yield url
    relay.stop()


def test_relay_metrics__token_set__refused_without_it_served_with_it(relay_with_metrics):
    refused_status, refused_body = http_call(relay_with_metrics)
    wrong_status, _ = http_call(relay_with_metrics, token="not-the-token")
    status, metrics = http_call(relay_with_metrics, token="relay-metrics-token")

    assert (refused_status, wrong_status) == (403, 403)
    assert "noreboot_outbox_backlog_events" not in refused_body
    assert status == 200 and "noreboot_outbox_backlog_events" in metrics
