"""Fixtures shared by the suite. Every integration test talks to the real
PostgreSQL and the real Kafka broker that `make test` starts."""

from __future__ import annotations

import contextlib
import json
import re
import uuid

import pytest
from confluent_kafka import KafkaException
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from noreboot import ConfigClient
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.change_context import ChangeContext
from apps.configs.lineage import database_epoch_forget
from apps.tenants import services as tenant_services
from apps.tenants.models import Namespace, Tenant
from apps.tenants.roles import Role
from tests.support import conformance
from tests.support.kafka import TopicTail, topic_names, topics_delete
from tests.support.processes import RelayProcess


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Tests that stop the shared Kafka broker or PostgreSQL run after all the
    others (a stable sort keeps every other order), so that a service they fail
    to bring back cannot fail the tests that would have come after them. The
    check of every recorded API answer runs last of all."""
    items.sort(key=lambda item: (
        item.get_closest_marker("checks_recorded_responses") is not None,
        item.get_closest_marker("stops_shared_service") is not None,
    ))


# The broker's topics when the session started.
TOPICS_BEFORE = pytest.StashKey[set]()


def pytest_sessionstart(session):
    try:
        session.config.stash[TOPICS_BEFORE] = topic_names()
    except KafkaException:
        pass  # No broker to tidy: the tests that need one say so.


def pytest_sessionfinish(session):
    # The topics the suite made (its tenants', its consumers'), whether its
    # tests passed or not; the broker's other topics are left as they were.
    before = session.config.stash.get(TOPICS_BEFORE, None)
    if before is None:
        return
    try:
        topics_delete(topic_names() - before)
    except KafkaException:
        pass  # A broker a failed test left down: its failure already says so.


@pytest.fixture
def change_context() -> ChangeContext:
    """The context of the writes a test makes to arrange its world: no person acts."""
    return ChangeContext(actor=None, request_id="test-setup")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Hash strength is not under test; the default costs half a second a login.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def epoch_read_afresh():
    # Each test's database may have been emptied and given a new epoch row.
    database_epoch_forget()


@pytest.fixture(autouse=True)
def unthrottled(settings):
    # Tests log in far more often than people do; tests of the limits set their own.
    settings.NOREBOOT_THROTTLE_RATES = {scope: "100000/m" for scope in settings.NOREBOOT_THROTTLE_RATES}


# What must never reach a caller: a Python traceback, or SQL and driver names.
LEAK = re.compile(
    rb"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|psycopg2|django\.db\.|"
    rb"\bSELECT\b[^\n]{0,200}\bFROM\b|\bINSERT INTO\b|\bUPDATE \w+ SET\b"
)


@pytest.fixture(autouse=True)
def no_leaks_in_responses(monkeypatch, request):
    """Every response any test receives through the test clients is checked,
    and recorded for the OpenAPI conformance test (tests/support/conformance.py)."""
    original = Client.request
    test = request.node.nodeid

    def checked(self, **environ):
        response = original(self, **environ)
        if not response.streaming:
            leak = LEAK.search(response.content)
            assert leak is None, f"response to {environ.get('PATH_INFO')} leaks {leak.group(0)[:80]!r}"
        conformance.record(test, environ, response)
        return response

    monkeypatch.setattr(Client, "request", checked)


def unique_slug(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_user(db):
    def make(username: str | None = None, password: str | None = None, **extra):
        # No password unless a test logs in with one: hashing costs most of a second.
        return get_user_model().objects.create_user(username or unique_slug("user"), password=password, **extra)

    return make


@pytest.fixture
def make_namespace(db, change_context):
    """A namespace in a tenant of its own (unique slugs, so tests never meet)."""

    def make(tenant: Tenant | None = None, environment: str = "prod", service: str = "checkout") -> Namespace:
        tenant = tenant or tenant_services.tenant_create(slug=unique_slug("t"), context=change_context)
        return tenant_services.namespace_create(
            tenant=tenant, environment=environment, service=service, context=change_context
        )

    return make


@pytest.fixture
def grant(db, change_context):
    def give(user, target, role: str) -> None:
        tenant_services.role_grant(target=target, user=user, role=Role.from_label(role), context=change_context)

    return give


@contextlib.contextmanager
def views_alone(client: Client):
    """The client's requests answered without the fast paths (apps/api/fast_paths.py),
    by the views alone. A client's handler builds its middleware at its first
    request, so it is built again on the way in and out."""
    middleware = [entry for entry in settings.MIDDLEWARE if not entry.endswith(".FastPathMiddleware")]
    with override_settings(MIDDLEWARE=middleware):
        client.handler.load_middleware()
        try:
            yield
        finally:
            client.handler._middleware_chain = None


def bearer_client(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


@pytest.fixture
def client_for():
    """An API client carrying a real JWT access token for the user."""

    def make(user) -> APIClient:
        return bearer_client(str(AccessToken.for_user(user)))

    return make


@pytest.fixture
def editor(make_user, make_namespace, grant, client_for):
    """(client, namespace, user): an editor of a fresh namespace."""
    namespace = make_namespace()
    user = make_user()
    grant(user, namespace, "editor")
    return client_for(user), namespace, user


@pytest.fixture
def tenant_admin(make_user, make_namespace, grant, client_for):
    """(API client, namespace): a tenant-wide admin of a fresh tenant."""
    namespace = make_namespace()
    user = make_user()
    grant(user, namespace.tenant, "admin")
    return client_for(user), namespace


@pytest.fixture
def default_editor(make_user, grant, client_for) -> APIClient:
    """An API client of an editor of default/default/default, the namespace of the seed's endpoints."""
    user = make_user()
    grant(user, Namespace.objects.get(path="default/default/default"), "editor")
    return client_for(user)


@pytest.fixture
def relay(transactional_db, settings):
    """The outbox relay as its own process, against the test database."""
    process = RelayProcess(settings.DATABASES["default"]["NAME"])
    process.start()
    yield process
    # Shown beside a failing test's report (pytest keeps passing tests' output to itself).
    print(f"relay output:\n{process.stop()}")


@pytest.fixture
def sdk_client(live_server, relay, tmp_path, settings, change_context):
    """Starts SDK clients of a namespace, as client services run them, against
    the live API, relay and Kafka; closes them after the test."""
    clients: list[ConfigClient] = []

    def start(namespace: Namespace, **options) -> ConfigClient:
        _, secret = tenant_services.service_token_create(
            namespace=namespace, name="test-client", context=change_context
        )
        options.setdefault("cache_dir", tmp_path / "cache")
        # As a client service configures it: the API URL, the namespace and
        # the token; Kafka credentials come from the API.
        client = ConfigClient(namespace=namespace.path, api_url=live_server.url, token=secret, **options)
        clients.append(client)
        return client.start()

    yield start
    for client in clients:
        client.close()


@pytest.fixture
def topic_tail():
    """Reads what lands on the updates topic from now on."""
    tail = TopicTail()
    yield tail
    tail.close()


def body(response) -> dict | list:
    return json.loads(response.content) if response.content else {}
