"""Byte budgets per namespace and per tenant, checked in the write transaction,
and the history cap per config."""

import pytest
from config_service import settings as defaults

from apps.audit.models import AuditEvent
from apps.configs.models import Configuration, OutboxEvent
from apps.tenants.models import Namespace
from tests.conftest import body

pytestmark = pytest.mark.django_db

# 40 bytes of compact JSON: a 38-character string and its quotes.
VALUE_40 = "x" * 38


@pytest.fixture
def tenant_editor(make_user, make_namespace, grant, client_for):
    """(client, first namespace, second namespace of the same tenant)."""
    first = make_namespace(service="one")
    second = make_namespace(tenant=first.tenant, service="two")
    user = make_user()
    grant(user, first.tenant, "editor")
    return client_for(user), first, second


def put(client, namespace, name, value):
    return client.put(f"/api/v1/namespaces/{namespace.path}/configs/{name}/", {"value": value}, format="json")


def counts(namespace) -> tuple[int, int, int]:
    return (Configuration.objects.filter(namespace=namespace).count(),
            OutboxEvent.objects.filter(namespace=namespace).count(),
            AuditEvent.objects.filter(namespace=namespace).count())


@pytest.mark.parametrize("budget,limit,same_namespace", [
    pytest.param("NAMESPACE_VALUE_BYTES_MAX", "NOREBOOT_NAMESPACE_MAX_BYTES", True, id="namespace"),
    pytest.param("TENANT_VALUE_BYTES_MAX", "NOREBOOT_TENANT_MAX_BYTES", False, id="tenant-across-namespaces"),
])
def test_byte_budget__write_past_it__400_naming_the_limit_and_nothing_written(
    budget, limit, same_namespace, tenant_editor, settings
):
    setattr(settings, budget, 100)
    client, first, second = tenant_editor
    target = first if same_namespace else second
    assert put(client, first, "a", VALUE_40).status_code == 201
    assert put(client, target, "b", VALUE_40).status_code == 201
    before = counts(target)
    refused = put(client, target, "c", VALUE_40)
    assert refused.status_code == 400
    error = body(refused)["error"]
    assert error["limit"] == limit and limit in error["fields"]["value"][0]
    assert counts(target) == before
    assert Namespace.objects.get(pk=target.pk).value_bytes == (80 if same_namespace else 40)


def test_namespace_budget__replace_delete_and_rollback__bytes_follow_the_live_values(tenant_editor, settings):
    settings.NAMESPACE_VALUE_BYTES_MAX = 100
    client, namespace, _ = tenant_editor
    url = f"/api/v1/namespaces/{namespace.path}/configs/a/"
    put(client, namespace, "a", VALUE_40)
    put(client, namespace, "b", VALUE_40)
    assert put(client, namespace, "a", "x" * 58).status_code == 201  # replaced: 100 bytes in all
    assert Namespace.objects.get(pk=namespace.pk).value_bytes == 100
    assert put(client, namespace, "a", "x" * 59).status_code == 400
    assert client.delete(url).status_code == 204
    assert Namespace.objects.get(pk=namespace.pk).value_bytes == 40
    assert client.post(url + "rollback/", {"to_version": 2}, format="json").status_code == 201
    assert Namespace.objects.get(pk=namespace.pk).value_bytes == 100


def test_namespace_budget__already_over_a_lowered_budget__shrinking_writes_still_pass(tenant_editor, settings):
    client, namespace, _ = tenant_editor
    put(client, namespace, "a", "x" * 98)
    settings.NAMESPACE_VALUE_BYTES_MAX = 50
    assert put(client, namespace, "a", "x" * 60).status_code == 201
    assert client.delete(f"/api/v1/namespaces/{namespace.path}/configs/a/").status_code == 204


def test_namespace_budget__import_past_it__400_and_nothing_imported(tenant_editor, settings):
    settings.NAMESPACE_VALUE_BYTES_MAX = 100
    client, namespace, _ = tenant_editor
    before = counts(namespace)
    refused = client.post(f"/api/v1/namespaces/{namespace.path}/import/",
                          {"configs": {"a": VALUE_40, "b": VALUE_40, "c": VALUE_40}}, format="json")
    assert refused.status_code == 400 and body(refused)["error"]["limit"] == "NOREBOOT_NAMESPACE_MAX_BYTES"
    assert counts(namespace) == before and Namespace.objects.get(pk=namespace.pk).value_bytes == 0


def test_budgets__defaults__a_full_namespace_snapshot_stays_under_16_mib():
    per_config_overhead = defaults.CONFIGS_PER_NAMESPACE_MAX * 200  # name, version, timestamp, JSON punctuation
    assert defaults.NAMESPACE_VALUE_BYTES_MAX + per_config_overhead < 16 * 1024 * 1024
    assert defaults.TENANT_VALUE_BYTES_MAX >= defaults.NAMESPACE_VALUE_BYTES_MAX


def test_history__capped_by_setting__oldest_versions_deleted_audit_kept(tenant_editor, settings):
    settings.CONFIG_HISTORY_MAX = 3
    client, namespace, _ = tenant_editor
    for value in range(1, 6):
        assert put(client, namespace, "a", value).status_code == 201
    put(client, namespace, "b", 1)
    versions = body(client.get(f"/api/v1/namespaces/{namespace.path}/configs/a/versions/"))["results"]
    assert [version["version"] for version in versions] == [5, 4, 3]
    assert client.get(f"/api/v1/namespaces/{namespace.path}/configs/a/versions/1/").status_code == 404
    assert body(client.get(f"/api/v1/namespaces/{namespace.path}/configs/a/"))["value"] == 5
    assert AuditEvent.objects.filter(namespace=namespace, action="config.set", target="a").count() == 5
    assert Configuration.objects.filter(namespace=namespace, name="b").count() == 1


def test_history__default__every_version_kept(tenant_editor, settings):
    assert settings.CONFIG_HISTORY_MAX == 0
    client, namespace, _ = tenant_editor
    for value in range(1, 8):
        put(client, namespace, "a", value)
    assert Configuration.objects.filter(namespace=namespace, name="a").count() == 7
