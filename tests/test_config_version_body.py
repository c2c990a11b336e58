"""The answer of every write, written out by hand for speed
(ConfigVersionSerializer.to_representation): it must stay what the declared
fields, which the OpenAPI schema describes, give. And a bad name in the URL
stays a 400 naming the field."""

from rest_framework import serializers

from apps.configs.models import Configuration
from apps.configs.secrets import value_shown
from apps.configs.serializers import ConfigVersionSerializer
from apps.configs.services import config_set
from tests.conftest import body


def config_url(namespace, name: str) -> str:
    return f"/api/v1/namespaces/{namespace.path}/configs/{name}/"


def declared_fields_body(config: Configuration) -> dict:
    """DRF's answer from the declared fields, with the value shown as the API shows it."""
    data = serializers.ModelSerializer.to_representation(ConfigVersionSerializer(config), config)
    data["value"] = value_shown(config.value, config.is_secret)
    return dict(data)


def test_version_body__plain_secret_tombstone_and_system_versions__what_the_declared_fields_give(
    editor, change_context
):
    # Given versions of every kind: a person's, a secret's, a tombstone, and one no person wrote
    client, namespace, _ = editor
    first = client.put(config_url(namespace, "plain"), {"value": {"a": [1, 2.5, "x"]}, "comment": "c"}, format="json")
    assert first.status_code == 201, body(first)
    # (the PUT's answer is that body of its version)
    assert body(first) == declared_fields_body(Configuration.objects.get(namespace=namespace, name="plain", version=1))
    assert client.delete(config_url(namespace, "plain")).status_code == 204
    config_set(namespace=namespace, name="token", value="s3cret", secret=True, context=change_context)
    config_set(namespace=namespace, name="by_system", value=7, context=change_context)
    versions = list(Configuration.objects.filter(namespace=namespace))
    assert {(c.is_tombstone, c.is_secret, c.created_by_id is None) for c in versions} >= {
        (False, False, False), (True, False, False), (False, True, True), (False, False, True),
    }

    # When each is answered, Then it is what the declared fields give
    for config in versions:
        assert ConfigVersionSerializer(config).data == declared_fields_body(config)


def test_config_put__bad_name_in_the_url__400_naming_the_field(editor):
    client, namespace, _ = editor

    response = client.put(config_url(namespace, "bad%20name!"), {"value": 1}, format="json")

    assert response.status_code == 400
    assert list(body(response)["error"]["fields"]) == ["name"]
    assert not Configuration.objects.filter(namespace=namespace).exists()
