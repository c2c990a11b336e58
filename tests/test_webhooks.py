"""Webhooks: the API (tenant admins only, private targets refused), and the
delivery worker (`manage.py deliver_webhooks`) for real against the relay,
Kafka, PostgreSQL and a receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.configs.services import config_delete, config_set
from apps.webhooks.models import Webhook, WebhookDelivery
from apps.webhooks.sender import AttemptResult, delivery_send
from apps.webhooks.targets import TargetRefused, target_check, target_resolve
from tests.conftest import body
from tests.support.processes import ROOT, PlatformProcess, stack_env

SECRET = "receiver-shared-secret-0123456789"


def verify(secret: str, headers, payload: bytes, tolerance: int = 300) -> bool:
    """The receiver's check, as the README shows it."""
    timestamp = headers["X-Hq-Timestamp"]
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Hq-Signature"]) and abs(time.time() - int(timestamp)) <= tolerance


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records every POST and answers with
    the status `answer()` gives."""

    def __init__(self) -> None:
        self.requests: list[tuple[int, dict, bytes]] = []  # (status answered, headers, body)
        self.fail_first = 0
        self.status = 200  # once the first `fail_first` requests were answered 500
        self.delay = 0.0  # seconds before answering
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                payload = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._changed:
                    status = 500 if len(receiver.requests) < receiver.fail_first else receiver.status
                    receiver.requests.append((status, dict(self.headers), payload))
                    receiver._changed.notify_all()
                time.sleep(receiver.delay)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.url + "/moved")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/config"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def delivered(self, count: int, timeout: float = 40) -> list[tuple[dict, dict]]:
        """The first `count` requests answered 200, as (headers, decoded body)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                accepted = [(headers, payload) for status, headers, payload in self.requests if status == 200]
                if len(accepted) >= count:
                    return accepted[:count]
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"{len(accepted)} of {count} deliveries after {timeout}s: {self.requests}"
                self._changed.wait(remaining)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class WebhookWorkerProcess(PlatformProcess):
    def __init__(self, database_name: str, **extra_env: str) -> None:
        super().__init__(stack_env(
            database_name,
            NOREBOOT_WEBHOOK_ALLOW_PRIVATE="1",
            NOREBOOT_WEBHOOK_RETRY_BASE_SECONDS="0.2",
            NOREBOOT_WEBHOOK_RETRY_MAX_SECONDS="0.5",
            # A group of its own: it starts from the webhooks of this test's database.
            NOREBOOT_WEBHOOK_CONSUMER_GROUP=f"test-webhooks-{uuid.uuid4()}",
            **extra_env,
        ))
        self.command = [sys.executable, str(ROOT / "manage.py"), "deliver_webhooks"]


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def allow_private(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def worker(transactional_db, settings, relay):
    started = []

    def start(**extra_env: str) -> WebhookWorkerProcess:
        process = WebhookWorkerProcess(settings.DATABASES["default"]["NAME"], **extra_env)
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        print(f"webhook worker output:\n{process.stop()}")


def settled_log(client, namespace, webhook_id: int, count: int, timeout: float = 10) -> list[dict]:
    """The delivery log once its `count` deliveries are no longer pending: a
    receiver has its request before the worker records the answer."""
    deadline = time.monotonic() + timeout
    while True:
        log = body(client.get(f"{webhooks_url(namespace)}{webhook_id}/deliveries/"))["results"]
        if len(log) == count and all(item["status"] != "pending" for item in log):
            return log
        assert time.monotonic() < deadline, log
        time.sleep(0.05)


def webhooks_url(namespace) -> str:
    return f"/api/v1/tenants/{namespace.tenant.slug}/webhooks/"


def create(client, namespace, url: str, **fields):
    fields.setdefault("namespaces", [f"{namespace.tenant.slug}/prod/*"])
    fields.setdefault("events", ["config.changed", "config.deleted"])
    return client.post(webhooks_url(namespace), {"url": url, **fields}, format="json")


# -- the API -------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/hook", "http://192.168.0.10/",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/hook", "http://[fd00::1]/", "http://0.0.0.0/",
    "http://100.64.0.1/",
])
def test_webhook_create__private_target_without_the_setting__400_and_nothing_stored(tenant_admin, url):
    client, namespace = tenant_admin

    response = create(client, namespace, url, secret=SECRET)

    assert response.status_code == 400, body(response)
    assert "url" in body(response)["error"]["fields"]
    assert not Webhook.objects.exists()


def test_target_resolve__name_of_a_loopback_address__refused_when_sending(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    # A name, not a literal, so creation lets it pass; it resolves (without
    # DNS: glibc reads the number itself) to 127.0.0.1, which sending refuses.
    url = "http://2130706433/hook"
    target_check(url)

    with pytest.raises(TargetRefused):
        target_resolve(url)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http://user:pw@127.0.0.1/", "not a url", "http:///path"])
def test_webhook_create__not_an_http_url_or_with_credentials__400(tenant_admin, allow_private, url):
    client, namespace = tenant_admin

    response = create(client, namespace, url, secret=SECRET)

    assert response.status_code == 400
    assert "url" in body(response)["error"]["fields"]


@pytest.mark.parametrize("globs", [["other-tenant/prod/*"], ["*"], ["*/prod/*"]])
def test_webhook_create__namespaces_outside_the_tenant__403_and_nothing_stored(tenant_admin, allow_private, receiver,
                                                                               globs):
    client, namespace = tenant_admin

    response = create(client, namespace, receiver.url, namespaces=globs)

    assert response.status_code == 403
    assert "namespaces" in body(response)["error"]["fields"]
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("fields, bad", [
    ({"namespaces": ["Upper/Case"]}, "namespaces"),
    ({"namespaces": []}, "namespaces"),
    ({"events": ["config.exploded"]}, "events"),
    ({"secret": "short"}, "secret"),
    ({"colour": "red"}, "colour"),
])
def test_webhook_create__bad_field__400_naming_it(tenant_admin, allow_private, receiver, fields, bad):
    client, namespace = tenant_admin

    response = create(client, namespace, receiver.url, **fields)

    assert response.status_code == 400
    assert any(field.split(".")[0] == bad for field in body(response)["error"]["fields"])
    assert not Webhook.objects.exists()


def test_webhook_create__private_target_with_the_setting__201_secret_masked_and_audited(tenant_admin, allow_private,
                                                                                        receiver):
    client, namespace = tenant_admin

    response = create(client, namespace, receiver.url)

    assert response.status_code == 201
    created = body(response)
    # No secret given: one is made and shown this once.
    assert created["signing_secret"].startswith("whsec_")
    assert created["secret"]["secret"] is True and len(created["secret"]["fingerprint"]) == 12
    listed = body(client.get(webhooks_url(namespace)))
    assert [item["id"] for item in listed] == [created["id"]]
    assert "signing_secret" not in listed[0] and created["signing_secret"] not in json.dumps(listed)
    event = AuditEvent.objects.get(action="webhook.create")
    assert created["signing_secret"] not in json.dumps(event.after)
    given = body(create(client, namespace, receiver.url, secret=SECRET))
    assert given["signing_secret"] is None


def test_webhook_update_and_delete__by_the_admin__changed_then_gone(tenant_admin, allow_private, receiver):
    client, namespace = tenant_admin
    webhook_id = body(create(client, namespace, receiver.url, secret=SECRET))["id"]
    detail = f"{webhooks_url(namespace)}{webhook_id}/"

    updated = client.patch(detail, {"events": ["*"], "is_active": False}, format="json")
    refused = client.patch(detail, {"url": "http://user:pw@example.invalid/"}, format="json")
    deleted = client.delete(detail)

    assert updated.status_code == 200 and body(updated)["events"] == ["*"] and body(updated)["is_active"] is False
    assert refused.status_code == 400
    assert deleted.status_code == 204 and client.get(detail).status_code == 404
    assert list(AuditEvent.objects.filter(action__startswith="webhook.").order_by("id").values_list("action", flat=True)) == [
        "webhook.create", "webhook.update", "webhook.delete"
    ]


def test_webhook_api__without_permission__401_403_or_404(tenant_admin, allow_private, receiver, make_user, grant,
                                                          client_for, make_namespace):
    client, namespace = tenant_admin
    webhook_id = body(create(client, namespace, receiver.url, secret=SECRET))["id"]
    namespace_admin, other_tenant_admin = make_user(), make_user()
    grant(namespace_admin, namespace, "admin")
    grant(other_tenant_admin, make_namespace().tenant, "admin")
    paths = [webhooks_url(namespace), f"{webhooks_url(namespace)}{webhook_id}/",
             f"{webhooks_url(namespace)}{webhook_id}/deliveries/"]

    for path in paths:
        assert client_for(other_tenant_admin).get(path).status_code == 404
        # An admin of one namespace is not an admin of the tenant.
        assert client_for(namespace_admin).get(path).status_code == 403
        assert APIClient().get(path).status_code == 401
    assert client_for(other_tenant_admin).post(f"{paths[1]}test/").status_code == 404
    assert client_for(other_tenant_admin).delete(paths[1]).status_code == 404
    assert Webhook.objects.filter(pk=webhook_id, is_active=True).exists()


# -- one attempt ---------------------------------------------------------------


def send_once(receiver) -> AttemptResult:
    return delivery_send(url=receiver.url, secret=SECRET, body={"event_id": "e", "type": "webhook.test"},
                         event_type="webhook.test", delivery_id=1)


def test_delivery_send__redirect__a_failed_attempt_and_not_followed(allow_private, receiver):
    receiver.status = 302

    result = send_once(receiver)

    assert (result.ok, result.response_code) == (False, 302)
    assert "redirect not followed" in result.error
    assert len(receiver.requests) == 1


def test_delivery_send__receiver_slower_than_the_timeout__fails_in_bounded_time(allow_private, receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    receiver.delay = 2.0
    started = time.monotonic()

    result = send_once(receiver)

    assert time.monotonic() - started < 1.5
    assert not result.ok and result.response_code is None and "timed out" in result.error


def test_delivery_send__private_target_without_the_setting__refused_and_nothing_sent(receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False

    result = send_once(receiver)

    assert not result.ok and "private" in result.error
    assert receiver.requests == []


# -- deliveries ----------------------------------------------------------------


def test_deliveries__three_changes__one_signed_delivery_each_in_order(
    tenant_admin, allow_private, receiver, worker, change_context
):
    client, namespace = tenant_admin
    webhook_id = body(create(client, namespace, receiver.url, secret=SECRET))["id"]
    worker()

    config_set(namespace=namespace, name="timeout", value=1.5, context=change_context)
    config_set(namespace=namespace, name="timeout", value=2.5, context=change_context)
    config_delete(namespace=namespace, name="timeout", context=change_context)

    delivered = receiver.delivered(3)
    for headers, payload in delivered:
        assert verify(SECRET, headers, payload)
        assert headers["Content-Type"] == "application/json"
    documents = [json.loads(payload) for _, payload in delivered]
    assert [(d["type"], d["data"]["revision"]) for d in documents] == [
        ("config.changed", 1), ("config.changed", 2), ("config.deleted", 3)
    ]
    assert [d["data"].get("value") for d in documents[:2]] == [1.5, 2.5]
    assert len({d["event_id"] for d in documents}) == 3
    assert {d["namespace"] for d in documents} == {namespace.path}
    log = settled_log(client, namespace, webhook_id, 3)
    assert [(item["status"], item["attempts"], item["response_code"]) for item in log] == [("delivered", 1, 200)] * 3
    assert SECRET not in json.dumps(log)
    # Exactly one each: nothing is sent twice once acknowledged.
    time.sleep(0.5)
    assert len(receiver.requests) == 3


def test_deliveries__receiver_answers_500__retried_with_backoff_and_arrive_in_order_after_recovery(
    tenant_admin, allow_private, receiver, worker, change_context
):
    client, namespace = tenant_admin
    receiver.fail_first = 4
    webhook_id = body(create(client, namespace, receiver.url, secret=SECRET))["id"]
    worker()

    for value in range(3):
        config_set(namespace=namespace, name="limit", value=value, context=change_context)

    delivered = receiver.delivered(3)
    assert [json.loads(payload)["data"]["revision"] for _, payload in delivered] == [1, 2, 3]
    # While the receiver failed, only the oldest delivery was tried: none overtook it.
    failed = [json.loads(payload)["data"]["revision"] for status, _, payload in receiver.requests if status == 500]
    assert failed == [1, 1, 1, 1]
    attempts = [(status, headers["X-Hq-Timestamp"]) for status, headers, _ in receiver.requests]
    assert all(verify(SECRET, headers, payload) for _, headers, payload in receiver.requests), attempts
    log = settled_log(client, namespace, webhook_id, 3)
    assert [(item["revision"], item["attempts"], item["status"]) for item in log] == [
        (3, 1, "delivered"), (2, 1, "delivered"), (1, 5, "delivered")
    ]


def test_deliveries__target_failing_past_the_give_up_time__webhook_disabled_and_the_admin_sees_why(
    tenant_admin, allow_private, receiver, worker
):
    client, namespace = tenant_admin
    receiver.fail_first = 10**6
    webhook_id = body(create(client, namespace, receiver.url, secret=SECRET))["id"]
    worker(NOREBOOT_WEBHOOK_GIVE_UP_SECONDS="2").wait_for_output("webhook worker started")
    detail = f"{webhooks_url(namespace)}{webhook_id}/"

    test_delivery = client.post(f"{detail}test/")

    assert test_delivery.status_code == 202 and body(test_delivery)["event_type"] == "webhook.test"
    deadline = time.monotonic() + 30
    while body(client.get(detail))["is_active"]:
        assert time.monotonic() < deadline, receiver.requests
        time.sleep(0.1)
    shown = body(client.get(detail))
    assert "HTTP 500" in shown["disabled_reason"]
    log = body(client.get(f"{detail}deliveries/"))["results"]
    assert log[0]["status"] == "failed" and log[0]["attempts"] >= 2
    assert all(verify(SECRET, headers, payload) for _, headers, payload in receiver.requests)
    # Enabled again by the admin: the reason goes.
    enabled = client.patch(detail, {"is_active": True}, format="json")
    assert body(enabled)["is_active"] is True and body(enabled)["disabled_reason"] == ""


def test_worker__killed_under_supervise__restarted_and_every_change_still_delivered_once_in_order(
    tenant_admin, allow_private, receiver, relay, settings, change_context
):
    client, namespace = tenant_admin
    body(create(client, namespace, receiver.url, secret=SECRET))
    supervised = WebhookWorkerProcess(settings.DATABASES["default"]["NAME"], SUPERVISE_RESTART_DELAY="0.2")
    # As `make run` runs it.
    supervised.command = ["bash", str(ROOT / "scripts" / "supervise.sh"), *supervised.command]
    supervised.start()
    try:
        supervised.wait_for_output("webhook worker started")
        config_set(namespace=namespace, name="flag", value=0, context=change_context)
        assert json.loads(receiver.delivered(1)[0][1])["data"]["revision"] == 1
        child = subprocess.run(["pgrep", "-P", str(supervised.process.pid)], capture_output=True, text=True)
        os.kill(int(child.stdout.split()[0]), signal.SIGKILL)
        for value in (1, 2):
            config_set(namespace=namespace, name="flag", value=value, context=change_context)

        delivered = receiver.delivered(3)

        assert "starting it again" in supervised.output()
        assert [json.loads(payload)["data"]["revision"] for _, payload in delivered] == [1, 2, 3]
    finally:
        supervised.stop()
    assert len(receiver.requests) == 3


def test_dashboard_webhooks__tenant_admin__lists_webhooks_and_recent_deliveries(
    tenant_admin, allow_private, receiver, make_user, grant, client
):
    api, namespace = tenant_admin
    webhook_id = body(create(api, namespace, receiver.url, secret=SECRET))["id"]
    api.post(f"{webhooks_url(namespace)}{webhook_id}/test/")
    admin = make_user()
    grant(admin, namespace.tenant, "admin")
    client.force_login(admin)
    outsider = make_user()

    page = client.get("/ui/webhooks/")

    assert page.status_code == 200
    html = page.content.decode()
    assert receiver.url in html and "webhook.test" in html and "pending" in html
    assert SECRET not in html
    client.force_login(outsider)
    assert receiver.url not in client.get("/ui/webhooks/").content.decode()
    assert WebhookDelivery.objects.count() == 1
