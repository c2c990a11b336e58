"""The API's persistent database connections outlive neither a terminated
session nor a PostgreSQL restart, and no request fails for it, without a health
check round trip per request (config_service/dropped_connections.py)."""

import time

import pytest
from django.conf import settings
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from tests.support.processes import ApiServer, http_call
from tests.test_relay_resilience import postgres_restart

pytestmark = pytest.mark.django_db(transaction=True)

# More than the API's threads, so that every thread's connection is tried.
REQUESTS_AFTER_OUTAGE = 12


@pytest.fixture
def api_reading(settings, make_user, make_namespace, grant):
    """(API under its server, snapshot URL, JWT), its connections opened by a first round of reads."""
    namespace, user = make_namespace(), make_user()
    grant(user, namespace, "viewer")
    api = ApiServer(settings.DATABASES["default"]["NAME"], workers=1)
    api.start()
    try:
        url, token = f"{api.url}/api/v1/namespaces/{namespace.path}/configs/", str(AccessToken.for_user(user))
        for _ in range(REQUESTS_AFTER_OUTAGE):
            assert http_call(url, token=token)[0] == 200
        yield api, url, token
    finally:
        api.stop()


def other_sessions() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [pid for (pid,) in cursor.fetchall()]


def assert_every_request_answered(api, url: str, token: str) -> None:
    statuses = [http_call(url, token=token)[0] for _ in range(REQUESTS_AFTER_OUTAGE)]
    assert statuses == [200] * REQUESTS_AFTER_OUTAGE, api.output()[-3000:]
    assert http_call(url, token=token, If_None_Match='"0"')[0] == 304


def test_settings__no_health_check_query_per_request():
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is False


def test_api__its_sessions_terminated__next_requests_answered(api_reading):
    api, url, token = api_reading
    sessions = other_sessions()
    assert sessions, "the API holds its connections between requests"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [sessions])
    deadline = time.monotonic() + 10
    while set(sessions) & set(other_sessions()):
        assert time.monotonic() < deadline, "the sessions were not terminated"
        time.sleep(0.05)

    assert_every_request_answered(api, url, token)


@pytest.mark.stops_shared_service
def test_api__postgres_restarted__next_requests_answered(api_reading):
    api, url, token = api_reading
    postgres_restart()

    assert_every_request_answered(api, url, token)
