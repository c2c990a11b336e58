"""JSON Schemas of configs: the schema endpoints, bad schemas, and every write
path refusing a value its schema refuses with one error shape, writing nothing."""

import json
import time

import pytest

from apps.audit.models import AuditEvent
from apps.configs.models import ConfigSchemaVersion, Configuration, OutboxEvent
from apps.configs.schemas import SCHEMA_MAX_BYTES
from tests.conftest import body

pytestmark = pytest.mark.django_db

RATE_SCHEMA = {
    "type": "object",
    "properties": {"per_s": {"type": "integer", "minimum": 1}, "burst": {"type": "integer"}},
    "required": ["per_s"],
    "additionalProperties": False,
}
DEEP_SCHEMA: dict = {}
for _ in range(40):
    DEEP_SCHEMA = {"items": DEEP_SCHEMA}
BAD_RATE = {"per_s": "ten", "burst": 2.5, "extra": True}
BAD_RATE_VIOLATIONS = [
    "/burst: 2.5 is not of type 'integer'",
    "/per_s: 'ten' is not of type 'integer'",
    ": Additional properties are not allowed ('extra' was unexpected)",
]


def config_url(namespace, name, tail=""):
    return f"/api/v1/namespaces/{namespace.path}/configs/{name}/{tail}"


def put_schema(client, namespace, name, schema):
    return client.put(config_url(namespace, name, "schema/"), {"schema": schema}, format="json")


def written(namespace) -> tuple[int, int, int]:
    return (
        Configuration.objects.filter(namespace=namespace).count(),
        OutboxEvent.objects.filter(namespace=namespace).count(),
        AuditEvent.objects.filter(namespace=namespace, action__startswith="config.").count(),
    )


def assert_schema_violation(response, field="value"):
    assert response.status_code == 400, response.content
    error = body(response)["error"]
    assert error["code"] == "schema_violation"
    assert set(error) == {"code", "message", "fields"}
    assert sorted(error["fields"][field]) == sorted(BAD_RATE_VIOLATIONS)


def test_schema_put__before_any_value__versioned_audited_and_readable(editor):
    client, namespace, _ = editor
    response = put_schema(client, namespace, "rate", RATE_SCHEMA)
    assert response.status_code == 200
    assert body(response) == {"namespace": namespace.path, "name": "rate", "schema": RATE_SCHEMA, "schema_version": 1}
    assert body(client.get(config_url(namespace, "rate", "schema/")))["schema"] == RATE_SCHEMA
    assert client.delete(config_url(namespace, "rate", "schema/")).status_code == 204
    assert client.get(config_url(namespace, "rate", "schema/")).status_code == 404
    assert list(ConfigSchemaVersion.objects.filter(definition__namespace=namespace).values_list("version", "schema")) == [
        (2, None), (1, RATE_SCHEMA)
    ]
    actions = AuditEvent.objects.filter(namespace=namespace, target="rate").values_list("action", flat=True)
    assert sorted(actions) == ["config.schema_delete", "config.schema_set"]


def test_schema_put__current_value_fails_it__400_and_schema_unchanged(editor):
    client, namespace, _ = editor
    client.put(config_url(namespace, "rate"), {"value": {"per_s": "x"}}, format="json")
    response = put_schema(client, namespace, "rate", RATE_SCHEMA)
    assert response.status_code == 400
    assert body(response)["error"]["fields"]["schema"] == ["current value /per_s: 'x' is not of type 'integer'"]
    assert client.get(config_url(namespace, "rate", "schema/")).status_code == 404


def test_schema_put__viewer__403_and_other_tenant_404(editor, make_user, make_namespace, grant, client_for):
    _, namespace, _ = editor
    viewer = make_user()
    grant(viewer, namespace, "viewer")
    assert put_schema(client_for(viewer), namespace, "rate", RATE_SCHEMA).status_code == 403
    outsider = make_user()
    grant(outsider, make_namespace(), "admin")
    assert put_schema(client_for(outsider), namespace, "rate", RATE_SCHEMA).status_code == 404
    assert client_for(outsider).get(config_url(namespace, "rate", "schema/")).status_code == 404


@pytest.mark.parametrize(
    "schema, problem",
    [
        ([], "a schema is a JSON object"),
        ({"type": "no-such-type"}, "not a valid JSON Schema"),
        ({"$ref": "https://schemas.example.invalid/schema.json"}, "points outside the schema"),
        ({"properties": {"a": {"$ref": "other.json#/x"}}}, "points outside the schema"),
        ({"$ref": "#/$defs/missing"}, "a reference cannot be followed"),
        ({"$ref": "#"}, "a reference cannot be followed"),
        ({"enum": ["x" * SCHEMA_MAX_BYTES]}, "at most 65536 bytes"),
        (DEEP_SCHEMA, "nested deeper"),
        ({"type": "string", "pattern": "^(a+)+$"}, "pattern refused"),
        ({"patternProperties": {"(x|xy)*z": {}}}, "pattern refused"),
        ({"pattern": "(a)\\1"}, "pattern refused"),
        ({"pattern": "(unclosed"}, "not a valid regular expression"),
        ({"$schema": "http://json-schema.org/draft-04/schema#"}, "only Draft 2020-12"),
    ],
)
def test_schema_put__bad_schema__400_naming_the_problem(editor, schema, problem):
    client, namespace, _ = editor
    response = put_schema(client, namespace, "rate", schema)
    assert response.status_code == 400, response.content
    assert problem in body(response)["error"]["fields"]["schema"][0]
    assert not ConfigSchemaVersion.objects.filter(definition__namespace=namespace).exists()


@pytest.mark.parametrize(
    "schema",
    [{"\x00": 1}, {"type": "string", "pattern": "a\x00"}, {"enum": [["\ud800"]]}, {"properties": {"\udfff": {}}}],
    ids=["nul key", "nul value", "surrogate in a list", "surrogate key"],
)
def test_schema_put__text_postgresql_cannot_store_in_a_key_or_value__400_and_nothing_stored(editor, schema):
    client, namespace, _ = editor
    # Sent as ASCII JSON (escapes): the text itself could not be encoded as UTF-8.
    response = client.put(config_url(namespace, "rate", "schema/"), json.dumps({"schema": schema}),
                          content_type="application/json")
    assert response.status_code == 400, response.content
    assert body(response)["error"]["fields"]["schema"] == [
        "it cannot be stored: Strings may not contain NUL characters or unpaired surrogates."
    ]
    assert not ConfigSchemaVersion.objects.filter(definition__namespace=namespace).exists()


def test_validation__many_violations__at_most_20_listed(editor):
    client, namespace, _ = editor
    put_schema(client, namespace, "list", {"type": "array", "items": {"type": "string"}})
    response = client.put(config_url(namespace, "list"), {"value": list(range(100))}, format="json")
    assert len(body(response)["error"]["fields"]["value"]) == 20


def test_validation__largest_value_against_costly_schema__answers_within_a_second(editor):
    client, namespace, _ = editor
    schema = {"type": "array", "uniqueItems": True, "items": {"type": "object", "required": ["v"]}}
    assert put_schema(client, namespace, "big", schema).status_code == 200
    # Objects are unhashable: jsonschema's own uniqueItems compared them pairwise (minutes).
    value = [{"v": index} for index in range(6000)] + [{"v": 1}]
    started = time.monotonic()
    response = client.put(config_url(namespace, "big"), {"value": value}, format="json")
    assert time.monotonic() - started < 1.0
    assert body(response)["error"]["code"] == "schema_violation"


def test_validation__costly_enum_for_every_item__stopped_after_a_second_and_refused(editor):
    client, namespace, _ = editor
    assert put_schema(client, namespace, "ids", {"items": {"enum": list(range(7000, 14000))}}).status_code == 200
    started = time.monotonic()
    response = client.put(config_url(namespace, "ids"), {"value": [13999] * 8000}, format="json")
    assert time.monotonic() - started < 3.0
    assert body(response)["error"]["fields"]["value"] == [
        ": checking the value against the schema took over 1 s; simplify either"
    ]


# -- every write path refuses a violating value, writes nothing ---------------


@pytest.fixture
def rate_config(editor):
    """(client, namespace): `rate` has version 1 {"per_s": 5} and RATE_SCHEMA."""
    client, namespace, _ = editor
    assert client.put(config_url(namespace, "rate"), {"value": {"per_s": 5}}, format="json").status_code == 201
    assert put_schema(client, namespace, "rate", RATE_SCHEMA).status_code == 200
    return client, namespace


def test_put__value_fails_schema__400_schema_violation_nothing_written(rate_config):
    client, namespace = rate_config
    before = written(namespace)
    assert_schema_violation(client.put(config_url(namespace, "rate"), {"value": BAD_RATE}, format="json"))
    assert written(namespace) == before
    good = client.put(config_url(namespace, "rate"), {"value": {"per_s": 9}}, format="json")
    assert good.status_code == 201 and body(good)["schema_version"] == 1


def test_seed_update__value_fails_schema__400_schema_violation_nothing_written(default_editor, make_user, grant):
    from apps.tenants.models import Namespace

    namespace = Namespace.objects.get(path="default/default/default")
    assert put_schema(default_editor, namespace, "schema-checked-rate", RATE_SCHEMA).status_code == 200
    before = written(namespace)
    response = default_editor.post(
        "/api/configs/update/", {"name": "schema-checked-rate", "value": BAD_RATE}, format="json"
    )
    assert_schema_violation(response)
    assert written(namespace) == before


def test_rollback__to_a_value_todays_schema_refuses__400_schema_violation_nothing_written(editor):
    client, namespace, _ = editor
    client.put(config_url(namespace, "rate"), {"value": BAD_RATE}, format="json")
    client.put(config_url(namespace, "rate"), {"value": {"per_s": 5}}, format="json")
    assert put_schema(client, namespace, "rate", RATE_SCHEMA).status_code == 200
    before = written(namespace)
    response = client.post(config_url(namespace, "rate", "rollback/"), {"to_version": 1}, format="json")
    assert_schema_violation(response)
    assert written(namespace) == before


def test_import__one_value_fails_schema__400_schema_violation_nothing_imported(rate_config):
    client, namespace = rate_config
    before = written(namespace)
    response = client.post(
        f"/api/v1/namespaces/{namespace.path}/import/",
        {"configs": {"aaa-fine": 1, "rate": BAD_RATE}}, format="json",
    )
    assert_schema_violation(response, field="configs.rate")
    assert written(namespace) == before


def test_admin__value_fails_schema__form_shows_violation_nothing_written(rate_config, make_user, grant):
    from django.test import Client

    _, namespace = rate_config
    admin_user = make_user(is_staff=True)
    grant(admin_user, namespace.tenant, "admin")
    browser = Client()
    browser.force_login(admin_user)
    before = written(namespace)
    response = browser.post(
        "/admin/configs/configuration/add/",
        {"namespace": namespace.pk, "name": "rate", "value": '{"per_s": "ten", "burst": 2.5, "extra": true}',
         "comment": ""},
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "/per_s: &#x27;ten&#x27; is not of type &#x27;integer&#x27;" in page
    assert written(namespace) == before
