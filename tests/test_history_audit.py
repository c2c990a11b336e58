"""History, diff, rollback, delete, optimistic concurrency and the audit log."""

import pytest

from apps.audit.models import AuditEvent
from apps.configs.models import Configuration, OutboxEvent
from tests.conftest import body

pytestmark = pytest.mark.django_db


def config_url(namespace, name="limits", suffix=""):
    return f"/api/v1/namespaces/{namespace.path}/configs/{name}/{suffix}"


@pytest.fixture
def three_versions(editor):
    client, namespace, user = editor
    for value in ({"rps": 10, "burst": 5}, {"rps": 20, "burst": 5}, {"rps": 20, "mode": "strict"}):
        assert client.put(config_url(namespace), {"value": value}, format="json").status_code == 201
    return client, namespace, user


def test_diff__version_1_to_3__rfc6902_patch(three_versions):
    client, namespace, _ = three_versions
    response = client.get(config_url(namespace, suffix="diff/?from=1&to=3"))
    assert response.status_code == 200
    diff = body(response)
    assert diff["from"] == 1 and diff["to"] == 3
    assert sorted(diff["patch"], key=lambda op: op["path"]) == [
        {"op": "remove", "path": "/burst"},
        {"op": "add", "path": "/mode", "value": "strict"},
        {"op": "replace", "path": "/rps", "value": 20},
    ]


def test_rollback__to_version_1__creates_v4_with_v1_value_published_and_audited(three_versions):
    client, namespace, user = three_versions
    response = client.post(config_url(namespace, suffix="rollback/"), {"to_version": 1}, format="json",
                           HTTP_X_REQUEST_ID="rollback-req-1")
    assert response.status_code == 201
    created = body(response)
    assert created["version"] == 4 and created["value"] == {"rps": 10, "burst": 5}
    event = OutboxEvent.objects.get(namespace=namespace, revision=4)
    assert event.payload["value"] == {"rps": 10, "burst": 5} and event.payload["version"] == 4
    audit = AuditEvent.objects.get(namespace=namespace, action="config.rollback")
    assert audit.actor_username == user.username and audit.request_id == "rollback-req-1"
    assert audit.before == {"rps": 20, "mode": "strict"}
    assert audit.after["value"] == {"rps": 10, "burst": 5} and audit.after["to_version"] == 1


def test_versions__list__newest_first_and_paginated(three_versions):
    client, namespace, _ = three_versions
    page = body(client.get(config_url(namespace, suffix="versions/?page_size=2")))
    assert page["count"] == 3 and [v["version"] for v in page["results"]] == [3, 2]
    one = client.get(config_url(namespace, suffix="versions/1/"))
    assert body(one)["value"] == {"rps": 10, "burst": 5} and one["ETag"] == '"1"'
    assert client.get(config_url(namespace, suffix="versions/9/")).status_code == 404


def test_delete__then_list_history_and_put__tombstone_kept_and_numbers_continue(three_versions):
    client, namespace, _ = three_versions
    assert client.delete(config_url(namespace)).status_code == 204
    snapshot = body(client.get(f"/api/v1/namespaces/{namespace.path}/configs/"))
    assert snapshot["configs"] == [] and snapshot["revision"] == 4
    assert client.get(config_url(namespace)).status_code == 404
    history = body(client.get(config_url(namespace, suffix="versions/")))["results"]
    assert [(v["version"], v["deleted"]) for v in history] == [(4, True), (3, False), (2, False), (1, False)]
    assert OutboxEvent.objects.get(namespace=namespace, revision=4).payload["op"] == "delete"
    again = client.put(config_url(namespace), {"value": {"rps": 1}}, format="json")
    assert again.status_code == 201 and body(again)["version"] == 5
    assert client.delete(config_url(namespace, name="never-existed")).status_code == 404


def test_delete__default_namespace__gone_from_the_spec_list(default_editor):
    default_editor.post("/api/configs/update/", {"name": "to-delete", "value": 1}, format="json")
    assert default_editor.delete("/api/v1/namespaces/default/default/default/configs/to-delete/").status_code == 204
    assert "to-delete" not in [row["name"] for row in body(default_editor.get("/api/configs/"))]


def test_if_match__two_puts_with_the_same_version__one_201_one_412_one_new_version(three_versions):
    client, namespace, _ = three_versions
    first = client.put(config_url(namespace), {"value": 1}, format="json", HTTP_IF_MATCH='"3"')
    second = client.put(config_url(namespace), {"value": 2}, format="json", HTTP_IF_MATCH='"3"')
    assert (first.status_code, second.status_code) == (201, 412)
    assert body(second)["error"]["current_version"] == 4
    assert Configuration.objects.filter(namespace=namespace, name="limits").count() == 4


def test_if_match__stale_on_delete_and_rollback__412_and_nothing_written(three_versions):
    client, namespace, _ = three_versions
    before = (Configuration.objects.count(), OutboxEvent.objects.count(), AuditEvent.objects.count())
    assert client.delete(config_url(namespace), HTTP_IF_MATCH='"1"').status_code == 412
    stale = client.post(config_url(namespace, suffix="rollback/"), {"to_version": 1, "expected_version": 2},
                        format="json")
    assert stale.status_code == 412
    assert (Configuration.objects.count(), OutboxEvent.objects.count(), AuditEvent.objects.count()) == before


def test_audit__every_write_endpoint__exactly_one_event_with_action_actor_and_request_id(
    make_user, make_namespace, grant, client_for, settings
):
    namespace = make_namespace()
    admin, member = make_user(is_staff=True), make_user()
    admin.is_superuser = True
    admin.save()
    client = client_for(admin)
    ns = f"/api/v1/namespaces/{namespace.path}"
    token_id = None
    writes = [
        ("config.set", "put", f"{ns}/configs/a/", {"value": 1}, 201),
        ("config.set", "put", f"{ns}/configs/a/", {"value": 2}, 201),
        ("config.rollback", "post", f"{ns}/configs/a/rollback/", {"to_version": 1}, 201),
        ("config.delete", "delete", f"{ns}/configs/a/", None, 204),
        ("role.grant", "put", f"{ns}/members/{member.username}/", {"role": "editor"}, 200),
        ("role.revoke", "delete", f"{ns}/members/{member.username}/", None, 204),
        ("role.grant", "put", f"/api/v1/tenants/{namespace.tenant.slug}/members/{member.username}/", {"role": "viewer"},
         200),
        ("role.revoke", "delete", f"/api/v1/tenants/{namespace.tenant.slug}/members/{member.username}/", None, 204),
        ("token.create", "post", f"{ns}/tokens/", {"name": "svc"}, 201),
        ("token.revoke", "delete", f"{ns}/tokens/{{token}}/", None, 204),
        ("tenant.create", "post", "/api/v1/tenants/", {"slug": f"{namespace.tenant.slug}-two"}, 201),
        ("namespace.create", "post", f"/api/v1/tenants/{namespace.tenant.slug}/namespaces/",
         {"environment": "qa", "service": "web"}, 201),
        ("config.set", "post", "/api/configs/update/", {"name": "spec-audit", "value": True}, 201),
    ]
    for index, (action, method, url, payload, status) in enumerate(writes):
        request_id = f"audit-{index}"
        before = AuditEvent.objects.count()
        response = getattr(client, method)(url.format(token=token_id), payload, format="json",
                                           HTTP_X_REQUEST_ID=request_id)
        assert response.status_code == status, (url, body(response))
        assert response["X-Request-ID"] == request_id
        if action == "token.create":
            token_id = body(response)["id"]
        assert AuditEvent.objects.count() == before + 1, url
        event = AuditEvent.objects.get(request_id=request_id)
        assert (event.action, event.actor_username, event.source_ip) == (action, admin.username, "127.0.0.1")


def test_audit__failed_writes__no_event_and_nothing_changed(editor, make_user, client_for, grant):
    client, namespace, _ = editor
    client.put(config_url(namespace), {"value": 1}, format="json")
    viewer = make_user()
    grant(viewer, namespace, "viewer")
    before = (AuditEvent.objects.count(), Configuration.objects.count(), OutboxEvent.objects.count())
    assert client.put(config_url(namespace), {"value": None}, format="json").status_code == 400
    assert client_for(viewer).put(config_url(namespace), {"value": 2}, format="json").status_code == 403
    assert client.put(config_url(namespace), {"value": 2}, format="json", HTTP_IF_MATCH='"7"').status_code == 412
    assert client.put(f"/api/v1/namespaces/{namespace.path}/members/nobody/", {"role": "admin"},
                      format="json").status_code == 403
    assert (AuditEvent.objects.count(), Configuration.objects.count(), OutboxEvent.objects.count()) == before


def test_audit__user_of_another_tenant__never_sees_its_events(editor, make_user, make_namespace, grant, client_for):
    client, namespace, user = editor
    client.put(config_url(namespace), {"value": 1}, format="json")
    outsider = make_user()
    grant(outsider, make_namespace().tenant, "admin")
    seen = body(client_for(outsider).get("/api/v1/audit/?page_size=500"))["results"]
    assert all(event["namespace"] != namespace.path for event in seen)
    mine = body(client.get(f"/api/v1/audit/?namespace={namespace.path}&action=config.set"))["results"]
    assert [(e["actor"], e["target"]) for e in mine] == [(user.username, "limits")]


def test_audit__no_endpoint__changes_or_deletes_an_event(editor):
    client, namespace, _ = editor
    client.put(config_url(namespace), {"value": 1}, format="json")
    event = AuditEvent.objects.filter(namespace=namespace).first()
    for method in ("put", "patch", "delete", "post"):
        assert getattr(client, method)("/api/v1/audit/", {"action": "x"}, format="json").status_code == 405
        assert getattr(client, method)(f"/api/v1/audit/{event.pk}/", {}, format="json").status_code == 404
    assert AuditEvent.objects.get(pk=event.pk).action == "config.set"


def test_request_id__absent__created_and_returned(editor):
    client, namespace, _ = editor
    response = client.put(config_url(namespace), {"value": 1}, format="json")
    assert len(response["X-Request-ID"]) == 32
    assert AuditEvent.objects.get(namespace=namespace, action="config.set").request_id == response["X-Request-ID"]


def test_export_then_import__into_an_empty_namespace__reproduces_every_value(editor, make_namespace, grant):
    client, namespace, user = editor
    for name, value in (("a", 1), ("b", {"x": [1, 2]}), ("c", "text")):
        client.put(config_url(namespace, name), {"value": value}, format="json")
    exported = body(client.get(f"/api/v1/namespaces/{namespace.path}/export/"))
    target = make_namespace(tenant=namespace.tenant, environment="copy")
    grant(user, target, "editor")
    dry = body(client.post(f"/api/v1/namespaces/{target.path}/import/",
                           {"configs": exported["configs"], "dry_run": True}, format="json"))
    assert [c["op"] for c in dry["changes"]] == ["create"] * 3 and dry["revision"] == 0
    done = client.post(f"/api/v1/namespaces/{target.path}/import/", {"configs": exported["configs"]}, format="json")
    assert done.status_code == 200 and body(done)["revision"] == 3
    assert body(client.get(f"/api/v1/namespaces/{target.path}/export/"))["configs"] == exported["configs"]
    assert AuditEvent.objects.filter(namespace=target, action="config.set").count() == 3


def test_import__one_invalid_entry__400_naming_it_and_nothing_written(editor):
    client, namespace, _ = editor
    before = (Configuration.objects.count(), OutboxEvent.objects.count(), AuditEvent.objects.count())
    for bad, field in (({"bad name!": 2}, "configs.bad name!"), ({"empty": None}, "configs.empty")):
        response = client.post(f"/api/v1/namespaces/{namespace.path}/import/",
                               {"configs": {"good": 1, "also-good": [1], **bad}}, format="json")
        assert response.status_code == 400
        assert set(body(response)["error"]["fields"]) == {field}
    assert (Configuration.objects.count(), OutboxEvent.objects.count(), AuditEvent.objects.count()) == before
