"""Every way a value comes in (API, dashboard, Django admin) refuses what the
API refuses, with a 4xx and no value text in the logs, and writes nothing."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from apps.configs.models import Configuration, OutboxEvent
from apps.configs.services import config_set

pytestmark = pytest.mark.django_db

MARK = "leakmarker"
HOSTILE = [
    pytest.param('{"' + MARK + '": 1e400}', id="1e400"),
    pytest.param('{"' + MARK + '": ' + "[" * 50_000 + "]" * 50_000 + "}", id="50000-deep"),
    pytest.param('{"' + MARK + '": ' + "[" * 600 + "]" * 600 + "}", id="600-deep"),
    pytest.param('{"' + MARK + '": NaN}', id="nan"),
]


@pytest.fixture
def namespace_admin(make_user, make_namespace, grant, change_context):
    namespace = make_namespace()
    config_set(namespace=namespace, name="flag", value={"a": 1}, context=change_context)
    user = make_user(is_staff=True)
    grant(user, namespace.tenant, "admin")
    client = Client()
    client.force_login(user)
    return client, namespace, user


def written(namespace) -> tuple[int, int]:
    return (Configuration.objects.filter(namespace=namespace).count(),
            OutboxEvent.objects.filter(namespace=namespace).count())


def assert_refused_quietly(response, caplog, before, namespace, expected=400):
    assert response.status_code == expected
    assert written(namespace) == before
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert MARK not in caplog.text


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("action", ["preview", "save"])
def test_dashboard_edit__hostile_json__400_form_error_and_no_value_in_logs(text, action, namespace_admin, caplog):
    client, namespace, _ = namespace_admin
    before = written(namespace)
    caplog.set_level(logging.INFO)
    response = client.post(f"/ui/namespaces/{namespace.path}/configs/flag/edit", {
        "kind": "json", "value": text, "action": action, "expected_version": 1,
        "previewed": text, "comment": "",
    })
    assert_refused_quietly(response, caplog, before, namespace)
    assert b"Not valid JSON" in response.content or b"levels of nesting" in response.content


@pytest.mark.parametrize("text", ["1e400", "-1e400", "nan", "inf"])
def test_dashboard_edit__non_finite_number__400_form_error(text, namespace_admin, caplog):
    client, namespace, _ = namespace_admin
    before = written(namespace)
    response = client.post(f"/ui/namespaces/{namespace.path}/configs/flag/edit",
                           {"kind": "number", "value": text, "action": "preview"})
    assert_refused_quietly(response, caplog, before, namespace)


def test_dashboard_edit__string_with_nul__400_form_error(namespace_admin, caplog):
    client, namespace, _ = namespace_admin
    before = written(namespace)
    response = client.post(f"/ui/namespaces/{namespace.path}/configs/flag/edit",
                           {"kind": "string", "value": "a\x00b", "action": "preview"})
    assert_refused_quietly(response, caplog, before, namespace)


@pytest.mark.parametrize("text", HOSTILE)
def test_admin_add__hostile_json__form_error_and_no_value_in_logs(text, namespace_admin, caplog):
    client, namespace, _ = namespace_admin
    before = written(namespace)
    caplog.set_level(logging.INFO)
    response = client.post("/admin/configs/configuration/add/",
                           {"namespace": namespace.pk, "name": "flag", "value": text})
    # The admin answers a form with errors as 200.
    assert_refused_quietly(response, caplog, before, namespace, expected=200)
    assert b"errornote" in response.content


@pytest.mark.parametrize("text", HOSTILE)
def test_api_put__hostile_json__400_and_no_value_in_logs(text, namespace_admin, client_for, caplog):
    _, namespace, user = namespace_admin
    api = client_for(user)
    before = written(namespace)
    caplog.set_level(logging.INFO)
    response = api.generic("PUT", f"/api/v1/namespaces/{namespace.path}/configs/flag/", '{"value": ' + text + "}",
                           content_type="application/json")
    assert_refused_quietly(response, caplog, before, namespace)

