"""Malformed and hostile input: a clear 4xx, the JSON error shape, nothing written."""

import json

import pytest
from config_service.pagination import CappedPageNumberPagination
from django.test import Client
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.configs.models import Configuration, OutboxEvent
from apps.tenants.models import Namespace, Tenant
from tests.conftest import body

pytestmark = pytest.mark.django_db

BAD_NAMES = [
    pytest.param("", id="empty"),
    pytest.param("n" * 101, id="too-long"),
    pytest.param("t\u0456meout", id="cyrillic-look-alike"),
    pytest.param("\uff54imeout", id="fullwidth-look-alike"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("line\nbreak", id="newline"),
    pytest.param("trailing\n", id="trailing-newline"),
    pytest.param("a/b", id="slash"),
    pytest.param("..", id="dot-dot"),
    pytest.param("x'; DROP TABLE configs_configuration;--", id="sql"),
    pytest.param("<script>alert(1)</script>", id="html"),
]


def counts() -> tuple[int, ...]:
    return (Configuration.objects.count(), OutboxEvent.objects.count(), AuditEvent.objects.count(),
            Namespace.objects.count(), Tenant.objects.count())


@pytest.fixture
def superuser_client(make_user, client_for):
    return client_for(make_user(is_superuser=True, is_staff=True))


def test_body__3_mb__413_and_nothing_written(editor):
    client, namespace, _ = editor
    before = counts()
    payload = json.dumps({"value": "a" * 3_000_000})
    response = client.generic("PUT", f"/api/v1/namespaces/{namespace.path}/configs/x/", payload,
                              content_type="application/json")
    assert response.status_code == 413 and body(response)["error"]["code"] == "request_too_large"
    assert counts() == before


def test_body__json_10000_levels_deep__400_and_nothing_written(editor):
    client, namespace, _ = editor
    before = counts()
    payload = '{"value": ' + "[" * 10_000 + "]" * 10_000 + "}"
    response = client.generic("PUT", f"/api/v1/namespaces/{namespace.path}/configs/x/", payload,
                              content_type="application/json")
    assert response.status_code == 400 and "error" in body(response)
    assert counts() == before


@pytest.mark.parametrize(
    "value",
    [pytest.param("a" * (64 * 1024 + 1), id="over-64KiB"), pytest.param(json.loads("[" * 40 + "]" * 40), id="depth-40")],
)
def test_value__over_the_limits__400_naming_value_and_nothing_written(editor, value):
    client, namespace, _ = editor
    before = counts()
    response = client.put(f"/api/v1/namespaces/{namespace.path}/configs/x/", {"value": value}, format="json")
    assert response.status_code == 400 and "value" in body(response)["error"]["fields"]
    assert counts() == before


@pytest.mark.parametrize("name", BAD_NAMES)
def test_config_name__bad__400_naming_the_field(default_editor, name):
    before = counts()
    response = default_editor.post("/api/configs/update/", {"name": name, "value": 1}, format="json")
    assert response.status_code == 400, body(response)
    assert "name" in body(response)["error"]["fields"]
    assert counts() == before


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize("field", ["environment", "service"])
def test_namespace_slug__bad__400_naming_the_field(superuser_client, make_namespace, name, field):
    tenant = make_namespace().tenant
    before = counts()
    payload = {"environment": "ok", "service": "ok", field: name}
    response = superuser_client.post(f"/api/v1/tenants/{tenant.slug}/namespaces/", payload, format="json")
    assert response.status_code == 400, body(response)
    assert field in body(response)["error"]["fields"]
    assert counts() == before


@pytest.mark.parametrize("name", [*BAD_NAMES, pytest.param("UPPER", id="uppercase")])
def test_tenant_slug__bad__400_naming_the_field(superuser_client, name):
    before = counts()
    response = superuser_client.post("/api/v1/tenants/", {"slug": name}, format="json")
    assert response.status_code == 400, body(response)
    assert "slug" in body(response)["error"]["fields"]
    assert counts() == before


def test_config_name__bad_in_the_url__400_naming_the_field(editor):
    client, namespace, _ = editor
    for name in ("t\u0456meout", "%3Cscript%3E", "n" * 101):
        response = client.put(f"/api/v1/namespaces/{namespace.path}/configs/{name}/", {"value": 1}, format="json")
        assert response.status_code == 400 and "name" in body(response)["error"]["fields"], name


def test_body__unknown_field__400_naming_it(editor):
    client, namespace, _ = editor
    response = client.put(f"/api/v1/namespaces/{namespace.path}/configs/x/", {"value": 1, "revision": 99},
                          format="json")
    assert response.status_code == 400 and "revision" in body(response)["error"]["fields"]


def test_namespace__configs_cap_reached__400_and_nothing_written(editor, settings):
    client, namespace, _ = editor
    settings.CONFIGS_PER_NAMESPACE_MAX = 2
    for name in ("a", "b"):
        assert client.put(f"/api/v1/namespaces/{namespace.path}/configs/{name}/", {"value": 1},
                          format="json").status_code == 201
    before = counts()
    response = client.put(f"/api/v1/namespaces/{namespace.path}/configs/c/", {"value": 1}, format="json")
    assert response.status_code == 400 and counts() == before
    assert client.put(f"/api/v1/namespaces/{namespace.path}/configs/a/", {"value": 2},
                      format="json").status_code == 201


def test_lists__page_size_above_the_cap__400_and_the_cap_itself_serves(editor, settings):
    client, namespace, _ = editor
    for value in range(3):
        client.put(f"/api/v1/namespaces/{namespace.path}/configs/x/", {"value": value}, format="json")
    url = f"/api/v1/namespaces/{namespace.path}/configs/x/versions/"
    too_big = client.get(f"{url}?page_size={settings.MAX_PAGE_SIZE + 1}")
    assert too_big.status_code == 400 and "page_size" in body(too_big)["error"]["fields"]
    capped = client.get(f"{url}?page_size={settings.MAX_PAGE_SIZE}")
    assert capped.status_code == 200 and len(body(capped)["results"]) == 3
    assert CappedPageNumberPagination.max_page_size == settings.MAX_PAGE_SIZE <= 500


def login(username: str, password: str, ip: str):
    return APIClient(REMOTE_ADDR=ip).post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
    )


def test_login__repeated_failures__429_with_retry_after_and_another_ip_still_logs_in(make_user, settings):
    settings.NOREBOOT_THROTTLE_RATES = dict(settings.NOREBOOT_THROTTLE_RATES, login_ip="5/m", login_username="20/m")
    user = make_user(password="right-password")
    statuses = [login(user.username, "wrong", "10.0.0.1").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    throttled = login(user.username, "right-password", "10.0.0.1")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert body(throttled)["error"]["code"] == "throttled"
    assert login(user.username, "right-password", "10.0.0.2").status_code == 200


def test_login__one_username_from_many_ips__429(make_user, settings):
    settings.NOREBOOT_THROTTLE_RATES = dict(settings.NOREBOOT_THROTTLE_RATES, login_ip="100/m", login_username="3/m")
    user = make_user(password="right-password")
    statuses = [login(user.username, "wrong", f"10.0.1.{i}").status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_login__forwarded_for_header__does_not_escape_the_ip_limit(make_user, settings):
    settings.NOREBOOT_THROTTLE_RATES = dict(settings.NOREBOOT_THROTTLE_RATES, login_ip="2/m", login_username="100/m")
    user = make_user(password="right-password")
    client = APIClient(REMOTE_ADDR="10.0.2.1")
    statuses = [
        client.post("/api/v1/auth/token/", {"username": user.username, "password": "wrong"}, format="json",
                    HTTP_X_FORWARDED_FOR=f"192.0.2.{i}").status_code
        for i in range(3)
    ]
    assert statuses == [401, 401, 429]


def test_token_refresh__over_the_limit__429(settings):
    settings.NOREBOOT_THROTTLE_RATES = dict(settings.NOREBOOT_THROTTLE_RATES, token_refresh="2/m")
    client = APIClient(REMOTE_ADDR="10.0.3.1")
    statuses = [client.post("/api/v1/auth/token/refresh/", {"refresh": "x"}, format="json").status_code
                for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_writes__over_the_per_user_limit__429_and_reads_still_pass(editor, settings):
    client, namespace, _ = editor
    settings.NOREBOOT_THROTTLE_RATES = dict(settings.NOREBOOT_THROTTLE_RATES, writes="3/m")
    url = f"/api/v1/namespaces/{namespace.path}/configs/x/"
    statuses = [client.put(url, {"value": i}, format="json").status_code for i in range(4)]
    assert statuses == [201, 201, 201, 429]
    assert client.get(url).status_code == 200


def test_writes__default_limit__allows_hundreds_per_second():
    # The settings module's own default, not the suite's unthrottled override.
    from config_service import settings as project_settings

    count, _, period = project_settings.NOREBOOT_THROTTLE_RATES["writes"].partition("/")
    assert period == "s" and int(count) >= 500


@pytest.mark.parametrize("text", [pytest.param("a\u0000b", id="nul"), pytest.param("a\ud800b", id="lone-surrogate")])
def test_value__text_postgresql_cannot_store__400_and_nothing_written(editor, text):
    client, namespace, _ = editor
    before = counts()
    for value in (text, {text: 1}, [{"k": text}]):
        payload = json.dumps({"value": value})  # ensure_ascii keeps the escapes as the client sent them
        response = client.generic("PUT", f"/api/v1/namespaces/{namespace.path}/configs/x/", payload,
                                  content_type="application/json")
        assert response.status_code == 400 and "value" in body(response)["error"]["fields"], value
    assert counts() == before


def test_dashboard_login__repeated_failures__429_and_another_ip_still_signs_in(make_user, settings):
    settings.NOREBOOT_THROTTLE_RATES = dict(settings.NOREBOOT_THROTTLE_RATES, login_ip="3/m", login_username="20/m")
    user = make_user(password="right-password")

    def sign_in(password: str, ip: str):
        return Client(REMOTE_ADDR=ip).post("/ui/login/", {"username": user.username, "password": password})

    assert [sign_in("wrong", "10.0.4.1").status_code for _ in range(4)] == [200, 200, 200, 429]
    throttled = sign_in("right-password", "10.0.4.1")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert b"Too many sign-in attempts" in throttled.content
    assert sign_in("right-password", "10.0.4.2").status_code == 302
