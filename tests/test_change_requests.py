"""Protected namespaces, change requests with approvals, compare and promote."""

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.changes.models import ChangeRequest
from apps.configs.definitions import config_plain_value, config_schema_set
from apps.configs.models import Configuration
from apps.configs.services import config_set
from apps.tenants.models import Namespace
from tests.conftest import body

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(make_namespace, make_user, grant, client_for):
    """acme-like tenant with dev and prod checkout: an author, two reviewers
    (tenant editors) and a tenant admin, as API clients."""
    dev = make_namespace(environment="dev")
    prod = make_namespace(dev.tenant, "prod")
    people = {}
    for name, role in [("author", "editor"), ("alice", "editor"), ("bob", "editor"), ("admin", "admin")]:
        user = make_user()
        grant(user, dev.tenant, role)
        people[name] = client_for(user)
    return dev, prod, people


def protect(people, namespace, approvals):
    response = people["admin"].put(f"/api/v1/namespaces/{namespace.path}/protection/",
                                   {"required_approvals": approvals}, format="json")
    assert response.status_code == 200, body(response)


def open_request(client, changes, comment="please"):
    response = client.post("/api/v1/change-requests/", {"changes": changes, "comment": comment}, format="json")
    assert response.status_code == 201, body(response)
    return body(response)


def step(client, request_id, action, **data):
    return client.post(f"/api/v1/change-requests/{request_id}/{action}/", data, format="json")


def test_protection__editor_sets_it__403_and_admin__200(team):
    dev, _prod, people = team
    response = people["author"].put(f"/api/v1/namespaces/{dev.path}/protection/", {"required_approvals": 1},
                                    format="json")
    assert response.status_code == 403
    protect(people, dev, 2)
    assert body(people["author"].get(f"/api/v1/namespaces/{dev.path}/protection/")) == {"required_approvals": 2}
    assert AuditEvent.objects.filter(namespace=dev, action="namespace.protect").exists()


def test_protected_namespace__every_direct_write_path__409_change_request_required(team, change_context):
    _dev, prod, people = team
    config_set(namespace=prod, name="limit", value=1, context=change_context)
    protect(people, prod, 1)
    client, base = people["author"], f"/api/v1/namespaces/{prod.path}"
    answers = [
        client.put(f"{base}/configs/limit/", {"value": 2}, format="json"),
        client.delete(f"{base}/configs/limit/"),
        client.post(f"{base}/configs/limit/rollback/", {"to_version": 1}, format="json"),
        client.post(f"{base}/import/", {"configs": {"limit": 3}}, format="json"),
        client.post("/api/v1/changesets/", {"changes": [{"namespace": prod.path, "name": "limit", "op": "set",
                                                         "value": 4}]}, format="json"),
    ]
    assert [(a.status_code, body(a)["error"]["code"]) for a in answers] == [(409, "change_request_required")] * 5
    assert Namespace.objects.get(pk=prod.pk).revision == 1


def test_change_request__two_approvals_needed__author_refused_then_approved_and_applied_as_a_changeset(
    team, change_context
):
    dev, prod, people = team
    config_set(namespace=prod, name="limit", value=1, context=change_context)
    protect(people, prod, 2)
    opened = open_request(people["author"], [
        {"namespace": prod.path, "name": "limit", "op": "set", "value": 5},
        {"namespace": dev.path, "name": "limit", "op": "set", "value": 5},
    ])
    assert opened["state"] == "open" and opened["approvals_needed"] == 2
    assert opened["diff"][0]["current_value"] == 1 and opened["diff"][0]["patch"] == [
        {"op": "replace", "path": "", "value": 5}]
    own = step(people["author"], opened["id"], "approve")
    assert own.status_code == 403 and body(own)["error"]["code"] == "author_cannot_review"
    assert step(people["author"], opened["id"], "apply").status_code == 409  # not approved yet
    assert body(step(people["alice"], opened["id"], "approve", comment="ok"))["state"] == "open"
    assert step(people["alice"], opened["id"], "approve").status_code == 409  # one review each
    assert body(step(people["bob"], opened["id"], "approve"))["state"] == "approved"
    applied = step(people["author"], opened["id"], "apply")
    assert applied.status_code == 200, body(applied)
    assert body(applied)["state"] == "applied" and body(applied)["changeset"] is not None
    assert Configuration.objects.get(namespace=prod, name="limit", is_active=True).value == 5
    assert Namespace.objects.get(pk=prod.pk).revision == 2
    actions = set(AuditEvent.objects.filter(namespace=prod, target=f"change request {opened['id']}")
                  .values_list("action", flat=True))
    assert actions == {"change_request.open", "change_request.approve", "change_request.apply"}
    listed = body(people["alice"].get("/api/v1/change-requests/", {"namespace": prod.path, "state": "applied"}))
    assert [item["id"] for item in listed["results"]] == [opened["id"]]


def test_change_request__config_changed_after_opening__apply_409_conflict_naming_it(team, change_context):
    dev, _prod, people = team
    config_set(namespace=dev, name="limit", value=1, context=change_context)
    opened = open_request(people["author"], [{"namespace": dev.path, "name": "limit", "op": "set", "value": 2}])
    step(people["alice"], opened["id"], "approve")
    config_set(namespace=dev, name="limit", value=9, context=change_context)
    shown = body(people["author"].get(f"/api/v1/change-requests/{opened['id']}/"))
    assert shown["diff"][0]["changed_since"] is True and shown["diff"][0]["current_value"] == 9
    response = step(people["author"], opened["id"], "apply")
    assert response.status_code == 409 and body(response)["error"]["code"] == "conflict"
    assert "limit" in body(response)["error"]["message"] and "changes[0]" in body(response)["error"]["fields"]
    assert Configuration.objects.get(namespace=dev, name="limit", is_active=True).value == 9


def test_change_request__rejected_or_withdrawn__cannot_be_applied(team):
    dev, _prod, people = team
    first = open_request(people["author"], [{"namespace": dev.path, "name": "a", "op": "set", "value": 1}])
    assert body(step(people["alice"], first["id"], "reject", comment="no"))["state"] == "rejected"
    assert body(step(people["author"], first["id"], "apply"))["error"]["code"] == "wrong_state"
    second = open_request(people["author"], [{"namespace": dev.path, "name": "a", "op": "set", "value": 1}])
    assert step(people["alice"], second["id"], "withdraw").status_code == 403
    assert body(step(people["author"], second["id"], "withdraw"))["state"] == "withdrawn"


def test_change_request__outsider__404_everywhere(team, make_user, client_for):
    dev, _prod, people = team
    opened = open_request(people["author"], [{"namespace": dev.path, "name": "a", "op": "set", "value": 1}])
    outsider = client_for(make_user())
    assert outsider.get(f"/api/v1/change-requests/{opened['id']}/").status_code == 404
    assert step(outsider, opened["id"], "approve").status_code == 404
    assert body(outsider.get("/api/v1/change-requests/"))["results"] == []


def test_compare_and_promote__dev_to_protected_prod__change_request_applied_after_approval(team, change_context):
    dev, prod, people = team
    for name, value in [("same", 1), ("changed", {"x": 1}), ("new", True)]:
        config_set(namespace=dev, name=name, value=value, context=change_context)
    config_set(namespace=prod, name="same", value=1, context=change_context)
    config_set(namespace=prod, name="changed", value={"x": 0}, context=change_context)
    config_set(namespace=prod, name="prod_only", value="p", context=change_context)
    protect(people, prod, 1)
    compared = body(people["author"].get("/api/v1/compare/", {"from": dev.path, "to": prod.path}))
    assert {item["name"]: item["status"] for item in compared["configs"]} == {
        "changed": "different", "new": "only_in_from", "prod_only": "only_in_to", "same": "same"}
    assert next(i for i in compared["configs"] if i["name"] == "changed")["patch"] == [
        {"op": "replace", "path": "/x", "value": 1}]
    promoted = people["author"].post("/api/v1/promote/", {"from": dev.path, "to": prod.path}, format="json")
    assert promoted.status_code == 201 and body(promoted)["kind"] == "change_request"
    request_id = body(promoted)["change_request"]["id"]
    assert sorted(c["name"] for c in body(promoted)["change_request"]["changes"]) == ["changed", "new"]
    step(people["alice"], request_id, "approve")
    assert step(people["author"], request_id, "apply").status_code == 200
    after = body(people["author"].get("/api/v1/compare/", {"from": dev.path, "to": prod.path}))
    assert {item["name"]: item["status"] for item in after["configs"]} == {
        "changed": "same", "new": "same", "prod_only": "only_in_to", "same": "same"}


def test_promote__unprotected_target_and_chosen_names__a_changeset(team, change_context):
    dev, prod, people = team
    config_set(namespace=dev, name="a", value=1, context=change_context)
    config_set(namespace=dev, name="b", value=2, context=change_context)
    promoted = people["author"].post("/api/v1/promote/", {"from": dev.path, "to": prod.path, "names": ["a"]},
                                     format="json")
    assert promoted.status_code == 201 and body(promoted)["kind"] == "changeset"
    assert [c["name"] for c in body(promoted)["changeset"]["changes"]] == ["a"]
    missing = people["author"].post("/api/v1/promote/", {"from": dev.path, "to": prod.path, "names": ["zzz"]},
                                    format="json")
    assert missing.status_code == 400 and "names" in body(missing)["error"]["fields"]


def test_compare__namespace_the_caller_cannot_see__404(team, make_namespace):
    dev, _prod, people = team
    foreign = make_namespace()
    response = people["author"].get("/api/v1/compare/", {"from": dev.path, "to": foreign.path})
    assert response.status_code == 404


def test_dashboard_edit_several__unprotected__one_changeset_and_bad_json_400_naming_the_field(
    team, change_context, make_user, grant
):
    dev, _prod, _people = team
    for name in ("a", "b", "c"):
        config_set(namespace=dev, name=name, value=1, context=change_context)
    user = make_user()
    grant(user, dev, "editor")
    browser = Client()
    browser.force_login(user)
    url = f"/ui/namespaces/{dev.path}/edit-several"
    refused = browser.post(url, {"value-a": "2", "value-b": "not json", "value-c": "1"})
    assert refused.status_code == 400 and b"Not valid JSON" in refused.content
    saved = browser.post(url, {"value-a": "2", "value-b": '"two"', "value-c": "1"})
    assert saved.status_code == 302
    dev.refresh_from_db()
    assert dev.revision == 4  # three setup writes, then one changeset
    assert set(Configuration.objects.filter(namespace=dev, revision=4).values_list("name", "value")) == {
        ("a", 2), ("b", "two")}


def test_dashboard_compare__side_by_side_then_promote__changeset_and_outsider_404(
    team, change_context, make_user, grant
):
    dev, prod, _people = team
    config_set(namespace=dev, name="a", value=1, context=change_context)
    author = make_user()
    grant(author, dev.tenant, "editor")
    browser = Client()
    browser.force_login(author)
    shown = browser.get("/ui/compare/", {"from": dev.path, "to": prod.path})
    assert shown.status_code == 200 and b'data-status="only_in_from"' in shown.content
    promoted = browser.post("/ui/compare/", {"from": dev.path, "to": prod.path, "names": ["a"]})
    assert promoted.status_code == 302
    assert Configuration.objects.get(namespace=prod, name="a", is_active=True).value == 1
    outsider = Client()
    outsider.force_login(make_user())
    assert outsider.get("/ui/compare/", {"from": dev.path, "to": prod.path}).status_code == 404


def test_promote_secret__to_protected_prod__kept_encrypted_in_the_request_shown_masked_applied_as_a_secret(
    team, change_context
):
    dev, prod, people = team
    config_set(namespace=dev, name="db_password", value="hunter2-plain", context=change_context, secret=True)
    protect(people, prod, 1)
    # Copying a secret needs the admin role on the source (an editor is refused: see below).
    promoted = body(people["admin"].post("/api/v1/promote/", {"from": dev.path, "to": prod.path}, format="json"))
    request_id = promoted["change_request"]["id"]
    assert "hunter2-plain" not in json.dumps(ChangeRequest.objects.get(pk=request_id).changes)
    shown = body(people["alice"].get(f"/api/v1/change-requests/{request_id}/"))
    assert shown["changes"][0]["value"] == {"secret": True, "fingerprint": shown["changes"][0]["value"]["fingerprint"]}
    assert "hunter2-plain" not in json.dumps(shown)
    step(people["alice"], request_id, "approve")
    assert step(people["admin"], request_id, "apply").status_code == 200
    applied = Configuration.objects.get(namespace=prod, name="db_password", is_active=True)
    assert applied.is_secret and config_plain_value(applied) == "hunter2-plain"
    compared = body(people["author"].get("/api/v1/compare/", {"from": dev.path, "to": prod.path}))
    assert [(item["name"], item["status"]) for item in compared["configs"]] == [("db_password", "same")]
    assert "hunter2-plain" not in json.dumps(compared)


def test_change_request_open__schema_violating_value__400_naming_it_and_nothing_opened(team, change_context):
    dev, _prod, people = team
    config_schema_set(namespace=dev, name="limit", schema={"type": "integer"}, context=change_context)
    response = people["author"].post("/api/v1/change-requests/", {"changes": [
        {"namespace": dev.path, "name": "limit", "op": "set", "value": "many"}]}, format="json")
    assert response.status_code == 400 and body(response)["error"]["code"] == "schema_violation"
    assert list(body(response)["error"]["fields"]) == ["changes[0].value"]
    assert not ChangeRequest.objects.exists()


def test_every_new_endpoint__unauthenticated_401_and_another_tenants_admin_404(
    team, make_namespace, make_user, grant, client_for
):
    dev, prod, people = team
    opened = open_request(people["author"], [{"namespace": dev.path, "name": "a", "op": "set", "value": 1}])
    changeset = body(people["author"].post("/api/v1/changesets/", {"changes": [
        {"namespace": dev.path, "name": "b", "op": "set", "value": 1}]}, format="json"))
    stranger = make_user()
    grant(stranger, make_namespace().tenant, "admin")
    calls = [
        ("get", f"/api/v1/changesets/{changeset['id']}/", None),
        ("get", f"/api/v1/change-requests/{opened['id']}/", None),
        ("post", f"/api/v1/change-requests/{opened['id']}/approve/", {}),
        ("post", f"/api/v1/change-requests/{opened['id']}/reject/", {}),
        ("post", f"/api/v1/change-requests/{opened['id']}/apply/", None),
        ("post", f"/api/v1/change-requests/{opened['id']}/withdraw/", None),
        ("get", f"/api/v1/compare/?from={dev.path}&to={prod.path}", None),
        ("post", "/api/v1/promote/", {"from": dev.path, "to": prod.path}),
        ("get", f"/api/v1/namespaces/{dev.path}/protection/", None),
        ("put", f"/api/v1/namespaces/{dev.path}/protection/", {"required_approvals": 1}),
    ]
    anonymous, other = APIClient(), client_for(stranger)
    for method, url, data in calls:
        assert getattr(anonymous, method)(url, data, format="json").status_code == 401, url
        assert getattr(other, method)(url, data, format="json").status_code == 404, url
    assert body(other.get("/api/v1/change-requests/"))["results"] == []
    assert body(people["author"].get(f"/api/v1/change-requests/{opened['id']}/"))["state"] == "open"


def test_promote_secret__viewer_of_source_admin_of_target__403_naming_it_and_nothing_written(
    make_namespace, make_user, grant, client_for, change_context
):
    source = make_namespace(environment="dev")
    config_set(namespace=source, name="db_password", value="hunter2-plain", context=change_context, secret=True)
    config_set(namespace=source, name="pool", value=5, context=change_context)
    target = make_namespace()  # another tenant, which the caller administers
    user = make_user()
    grant(user, source, "viewer")
    grant(user, target, "admin")
    client = client_for(user)
    for names in (None, ["db_password", "pool"]):
        refused = client.post("/api/v1/promote/", {"from": source.path, "to": target.path,
                                                   **({"names": names} if names else {})}, format="json")
        assert refused.status_code == 403, body(refused)
        error = body(refused)["error"]
        assert error["code"] == "permission_denied" and error["secrets"] == ["db_password"]
        assert "hunter2-plain" not in json.dumps(body(refused))
    assert not Configuration.objects.filter(namespace=target).exists()
    assert not ChangeRequest.objects.exists()
    # The plain values still promote; the secret still compares by fingerprint.
    plain = client.post("/api/v1/promote/", {"from": source.path, "to": target.path, "names": ["pool"]},
                        format="json")
    assert plain.status_code == 201 and [c["name"] for c in body(plain)["changeset"]["changes"]] == ["pool"]
    compared = body(client.get("/api/v1/compare/", {"from": source.path, "to": target.path}))
    assert {item["name"]: item["status"] for item in compared["configs"]} == {
        "db_password": "only_in_from", "pool": "same"}
    assert "hunter2-plain" not in json.dumps(compared)


def test_dashboard_promote_secret__editor_of_source__refused_on_the_page_and_nothing_written(
    team, change_context, make_user, grant
):
    dev, prod, _people = team
    config_set(namespace=dev, name="db_password", value="hunter2-plain", context=change_context, secret=True)
    editor = make_user()
    grant(editor, dev.tenant, "editor")
    browser = Client()
    browser.force_login(editor)
    refused = browser.post("/ui/compare/", {"from": dev.path, "to": prod.path, "names": ["db_password"]},
                           follow=True)
    assert refused.status_code == 200 and b"needs the admin role on" in refused.content
    assert b"db_password" in refused.content and b"hunter2-plain" not in refused.content
    assert not Configuration.objects.filter(namespace=prod).exists()


def test_compare_and_promote__namespace_the_caller_cannot_see_on_either_side__404_never_403(
    make_namespace, make_user, grant, client_for
):
    seen = make_namespace()
    sibling = make_namespace(seen.tenant, "dev")  # same tenant, not granted
    foreign = make_namespace()
    user = make_user()
    grant(user, seen, "admin")
    client, browser = client_for(user), Client()
    browser.force_login(user)
    for hidden in (sibling, foreign):
        for source, target in ((seen, hidden), (hidden, seen)):
            pair = {"from": source.path, "to": target.path}
            assert client.get("/api/v1/compare/", pair).status_code == 404
            assert body(client.post("/api/v1/promote/", pair, format="json"))["error"]["code"] == "not_found"
            assert browser.get("/ui/compare/", pair).status_code == 404
            assert browser.post("/ui/compare/", pair).status_code == 404


def test_dashboard_compare__path_with_nul_or_not_a_path__400_with_the_form_error(team, make_user, grant):
    dev, prod, _people = team
    user = make_user()
    grant(user, dev.tenant, "editor")
    browser = Client()
    browser.force_login(user)
    for pair in ({"from": "a/b/c\x00", "to": prod.path}, {"from": dev.path, "to": "x/y\x00/z"},
                 {"from": dev.path, "to": "x/y"}):
        shown = browser.get("/ui/compare/", pair)
        assert shown.status_code == 400 and b'role="alert"' in shown.content
        assert b"does not match the required pattern" in shown.content
        refused = browser.post("/ui/compare/", {**pair, "names": ["a"]})
        assert refused.status_code == 400
    assert not Configuration.objects.filter(namespace=prod).exists()


def test_dashboard_edit_several__too_deep_nan_or_nul_value__400_beside_the_field_and_nothing_saved(
    team, change_context, make_user, grant
):
    dev, _prod, _people = team
    config_set(namespace=dev, name="a", value=1, context=change_context)
    user = make_user()
    grant(user, dev, "editor")
    browser = Client()
    browser.force_login(user)
    for text, message in (("[" * 100000 + "]" * 100000, b"levels of nesting"), ("NaN", b"Not valid JSON"),
                          ('"\\u0000"', b"NUL characters")):
        refused = browser.post(f"/ui/namespaces/{dev.path}/edit-several", {"value-a": text})
        assert refused.status_code == 400 and b'id="value-a-error"' in refused.content
        assert message in refused.content
    dev.refresh_from_db()
    assert dev.revision == 1


def test_change_request__touching_a_namespace_the_caller_cannot_see__hidden_404_and_not_reviewable(
    make_namespace, make_user, grant, client_for
):
    seen = make_namespace()
    hidden = make_namespace(seen.tenant, "dev")
    author, half = make_user(), make_user()
    grant(author, seen.tenant, "editor")
    grant(half, seen, "editor")  # an editor of one of the two namespaces only
    opened = open_request(client_for(author), [{"namespace": seen.path, "name": "x", "op": "set", "value": 1},
                                               {"namespace": hidden.path, "name": "x", "op": "set", "value": 2}])
    client, browser = client_for(half), Client()
    browser.force_login(half)
    assert body(client.get("/api/v1/change-requests/", {"namespace": seen.path}))["results"] == []
    assert client_for(author).get(f"/api/v1/change-requests/{opened['id']}/").status_code == 200
    assert client.get(f"/api/v1/change-requests/{opened['id']}/").status_code == 404
    assert step(client, opened["id"], "approve").status_code == 404
    assert browser.get(f"/ui/changes/{opened['id']}/").status_code == 404
    assert f"/ui/changes/{opened['id']}/".encode() not in browser.get("/ui/changes/").content
    browser.post(f"/ui/changes/{opened['id']}/", {"action": "approve"})
    assert not ChangeRequest.objects.get(pk=opened["id"]).reviews.exists()
