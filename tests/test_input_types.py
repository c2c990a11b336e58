"""JSON types and numbers as they arrive and as they are stored: a body field
takes exactly its schema's type, import compares values type-exactly, and what a
write answers is what every later read and event carries."""

import json

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from apps.audit.models import AuditEvent
from apps.configs.models import Configuration, OutboxEvent
from apps.configs.services import config_set
from apps.tenants.models import Namespace, Tenant
from tests.conftest import bearer_client, body

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, ...]:
    return (Configuration.objects.count(), OutboxEvent.objects.count(), AuditEvent.objects.count(),
            Namespace.objects.count(), Tenant.objects.count())


def config_url(namespace, name="flag", suffix=""):
    return f"/api/v1/namespaces/{namespace.path}/configs/{name}/{suffix}"


WRONG_TYPES = [
    pytest.param("config", "", {"value": 1, "expected_version": "0"}, "expected_version", id="version-as-string"),
    pytest.param("config", "", {"value": 1, "expected_version": True}, "expected_version", id="version-as-boolean"),
    pytest.param("config", "", {"value": 1, "comment": 5}, "comment", id="comment-as-number"),
    pytest.param("rollback", "rollback/", {"to_version": "1"}, "to_version", id="to-version-as-string"),
    pytest.param("rollback", "rollback/", {"to_version": True}, "to_version", id="to-version-as-boolean"),
    pytest.param("import", "", {"configs": {"a": 1}, "dry_run": 0}, "dry_run", id="dry-run-as-zero"),
    pytest.param("import", "", {"configs": {"a": 1}, "dry_run": "false"}, "dry_run", id="dry-run-as-string"),
    pytest.param("import", "", {"configs": [["a", 1]]}, "configs", id="configs-as-array"),
    pytest.param("namespaces", "", {"environment": "e", "service": "s", "is_production": "on"}, "is_production",
                 id="is-production-as-string"),
    pytest.param("namespaces", "", {"environment": 0, "service": "s"}, "environment", id="environment-as-number"),
    pytest.param("tokens", "", {"name": 0}, "name", id="token-name-as-number"),
    pytest.param("members", "", {"role": ["viewer"]}, "role", id="role-as-array"),
    pytest.param("spec", "", {"name": 0, "value": 1}, "name", id="spec-name-as-number"),
]


def _request(kind, suffix, payload, client, namespace, username):
    if kind == "config":
        return client.put(config_url(namespace), payload, format="json")
    if kind == "rollback":
        return client.post(config_url(namespace, suffix=suffix), payload, format="json")
    if kind == "import":
        return client.post(f"/api/v1/namespaces/{namespace.path}/import/", payload, format="json")
    if kind == "namespaces":
        return client.post(f"/api/v1/tenants/{namespace.tenant.slug}/namespaces/", payload, format="json")
    if kind == "tokens":
        return client.post(f"/api/v1/namespaces/{namespace.path}/tokens/", payload, format="json")
    if kind == "members":
        return client.put(f"/api/v1/namespaces/{namespace.path}/members/{username}/", payload, format="json")
    return client.post("/api/configs/update/", payload, format="json")


@pytest.mark.parametrize("kind,suffix,payload,field", WRONG_TYPES)
def test_body_field__wrong_json_type__400_naming_it_and_nothing_written(
    kind, suffix, payload, field, tenant_admin, make_user, grant, change_context
):
    client, namespace = tenant_admin
    config_set(namespace=namespace, name="flag", value=1, context=change_context)
    other = make_user()
    grant(other, Namespace.objects.get(path="default/default/default"), "editor")
    if kind == "spec":
        client = bearer_client(str(AccessToken.for_user(other)))
    before = counts()
    response = _request(kind, suffix, payload, client, namespace, other.username)
    assert response.status_code == 400, response.content
    assert field in body(response)["error"]["fields"]
    assert counts() == before


def test_tenant_create__name_as_number__400_naming_it(make_user, client_for):
    client = client_for(make_user(is_superuser=True, is_staff=True))
    before = counts()
    response = client.post("/api/v1/tenants/", {"slug": "types-tenant", "name": 0}, format="json")
    assert response.status_code == 400 and "name" in body(response)["error"]["fields"]
    assert counts() == before


def test_body_fields__their_own_json_types__accepted(tenant_admin):
    client, namespace = tenant_admin
    response = client.put(config_url(namespace), {"value": 1, "expected_version": 0, "comment": "c"}, format="json")
    assert response.status_code == 201
    dry = client.post(f"/api/v1/namespaces/{namespace.path}/import/", {"configs": {"a": 1}, "dry_run": True},
                      format="json")
    assert dry.status_code == 200 and body(dry)["dry_run"] is True
    created = client.post(f"/api/v1/tenants/{namespace.tenant.slug}/namespaces/",
                          {"environment": "e", "service": "s", "is_production": None}, format="json")
    assert created.status_code == 201


# Import: values compare by JSON type, nested too.
TYPE_EXACT = [
    pytest.param(1, True, id="true-over-1"),
    pytest.param(True, 1, id="1-over-true"),
    pytest.param(1, 1.0, id="1.0-over-1"),
    pytest.param(0, False, id="false-over-0"),
    pytest.param({"a": [1, {"b": 1}]}, {"a": [1, {"b": True}]}, id="nested-true-over-1"),
    pytest.param([1.0], [1], id="nested-1-over-1.0"),
]


@pytest.mark.parametrize("stored,imported", TYPE_EXACT)
def test_import__value_equal_only_across_json_types__update_with_the_real_before_and_written(
    stored, imported, tenant_admin
):
    client, namespace = tenant_admin
    client.put(config_url(namespace), {"value": stored}, format="json")
    url = f"/api/v1/namespaces/{namespace.path}/import/"
    dry = body(client.post(url, {"configs": {"flag": imported}, "dry_run": True}, format="json"))
    change = dry["changes"][0]
    assert change["op"] == "update"
    assert json.dumps(change["before"]) == json.dumps(stored) and json.dumps(change["after"]) == json.dumps(imported)
    done = body(client.post(url, {"configs": {"flag": imported}}, format="json"))
    assert done["changes"][0]["op"] == "update"
    current = client.get(config_url(namespace))
    assert json.dumps(body(current)["value"]) == json.dumps(imported) and body(current)["version"] == 2


def test_import__same_value_and_types__unchanged_and_nothing_written(tenant_admin):
    client, namespace = tenant_admin
    value = {"a": [1, 1.5, True, "x", {"b": None}]}
    client.put(config_url(namespace), {"value": value}, format="json")
    before = counts()
    done = body(client.post(f"/api/v1/namespaces/{namespace.path}/import/", {"configs": {"flag": value}},
                            format="json"))
    assert done["changes"][0]["op"] == "unchanged"
    assert counts() == before


def test_import__the_export_body_as_it_is__accepted_into_another_namespace(tenant_admin, make_namespace):
    client, namespace = tenant_admin
    for name, value in (("a", 1), ("b", {"x": [1.5, True]})):
        client.put(config_url(namespace, name), {"value": value}, format="json")
    exported = client.get(f"/api/v1/namespaces/{namespace.path}/export/")
    target = make_namespace(tenant=namespace.tenant, environment="copy")
    done = client.generic("POST", f"/api/v1/namespaces/{target.path}/import/", exported.content,
                          content_type="application/json")
    assert done.status_code == 200, done.content
    assert [change["op"] for change in body(done)["changes"]] == ["create", "create"]
    assert body(client.get(f"/api/v1/namespaces/{target.path}/export/"))["configs"] == body(exported)["configs"]
    again = client.generic("POST", f"/api/v1/namespaces/{namespace.path}/import/", exported.content,
                           content_type="application/json")
    assert [change["op"] for change in body(again)["changes"]] == ["unchanged", "unchanged"]


def test_import__export_fields_of_the_wrong_type__400_naming_them(tenant_admin):
    client, namespace = tenant_admin
    response = client.post(f"/api/v1/namespaces/{namespace.path}/import/",
                           {"namespace": 1, "revision": "2", "configs": {}}, format="json")
    assert response.status_code == 400
    assert set(body(response)["error"]["fields"]) == {"namespace", "revision"}


# Numbers: what the write answers is what is stored, read and published.
NUMBERS = ["1e20", "-1e20", "1.5e300", "-0.0", "0.0", "1e-7", "1.0", "100.0", "12345678901234567890",
           "1E2", "0.1", "2.5e-320", "9007199254740993", "123456789.123456789"]


@pytest.mark.parametrize("text", NUMBERS)
def test_number__written__answer_equals_every_read_and_the_event(text, tenant_admin):
    client, namespace = tenant_admin
    payload = '{"value": {"n": ' + text + ', "list": [' + text + "]}}"
    written = client.generic("PUT", config_url(namespace), payload, content_type="application/json")
    assert written.status_code == 201
    answered = json.dumps(body(written)["value"])

    reads = {
        "get": body(client.get(config_url(namespace)))["value"],
        "version": body(client.get(config_url(namespace, suffix="versions/1/")))["value"],
        "snapshot": body(client.get(f"/api/v1/namespaces/{namespace.path}/configs/"))["configs"][0]["value"],
        "export": body(client.get(f"/api/v1/namespaces/{namespace.path}/export/"))["configs"]["flag"],
        "event": OutboxEvent.objects.get(namespace=namespace, revision=1).payload["value"],
        "audit": AuditEvent.objects.get(namespace=namespace, action="config.set").after,
    }
    assert {where: json.dumps(value) for where, value in reads.items()} == {where: answered for where in reads}


def test_integer_field__integral_number_like_2_0__accepted_as_json_schema_says(tenant_admin):
    client, namespace = tenant_admin
    client.put(config_url(namespace), {"value": 1}, format="json")
    response = client.generic("PUT", config_url(namespace), '{"value": 2, "expected_version": 1.0}',
                              content_type="application/json")
    assert response.status_code == 201 and body(response)["version"] == 2
