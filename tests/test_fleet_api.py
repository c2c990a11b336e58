"""The fleet endpoints and services without the live stack: who may call them,
bad input, the rollout lifecycle's writes and events, and the collector's
checks of each report (apps/fleet/reports.py)."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from noreboot.reporter import report_mac as sdk_report_mac
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.change_context import ChangeContext
from apps.changes.services import namespace_protect
from apps.configs.events import ack_topic_for_tenant
from apps.configs.models import Configuration, OutboxEvent
from apps.configs.services import config_set
from apps.fleet.driver import rollouts_drive
from apps.fleet.models import Apply, Instance, Rollout
from apps.fleet.reports import _store, instances_forget, report_mac, report_parse, reports_store
from apps.fleet.services import rollout_start
from apps.metrics import ACK_REPORTS_DROPPED
from apps.tenants import services as tenant_services
from apps.tenants.kafka_principals import principal_name, principal_password
from tests.conftest import body, unique_slug

pytestmark = pytest.mark.django_db

STAGES = {"value": 2, "stages": [{"percent": 10}, {"percent": 100}]}
SIGNING_CONTEXT = ChangeContext(actor=None, request_id="test-signer")


@pytest.fixture
def configured(editor, change_context):
    client, namespace, user = editor
    config_set(namespace=namespace, name="limit", value=1, context=change_context)
    return client, namespace, f"/api/v1/namespaces/{namespace.path}"


def signer_of(namespace, token=None) -> tuple[str, str]:
    """(principal, Kafka password) of a token of the namespace, as the SDK holds them."""
    if token is None:
        token, _ = tenant_services.service_token_create(namespace=namespace, name="sdk", context=SIGNING_CONTEXT)
    principal = principal_name(token.secret_hash)
    return principal, principal_password(principal, token.kafka_credential_generation)


def report(where, instance_id="i-1", *, signer: tuple[str, str] | None = None, **fields) -> dict:
    """A report signed as the SDK signs it, by a token of `where` unless `signer` says otherwise."""
    principal, password = signer or signer_of(where)
    unsigned = {"instance_id": instance_id, "namespace": where.path, "labels": {"region": "eu1"}, "revision": 1,
                "epoch": "e", "applied_at": timezone.now().isoformat(), "rejected": [], "sdk": "test",
                "reported_at": timezone.now().isoformat(), "principal": principal, **fields}
    return {**unsigned, "mac": sdk_report_mac(password, unsigned)}


def test_fleet_endpoints__anonymous_other_tenant_and_viewer__401_404_and_writes_403(
    configured, make_user, make_namespace, grant, client_for
):
    _, namespace, path = configured
    rollouts = f"{path}/configs/limit/rollouts/"
    assert APIClient().get(f"{path}/instances/").status_code == 401
    stranger = make_user()
    grant(stranger, make_namespace(), "admin")
    for url in (f"{path}/instances/", f"{path}/revisions/1/convergence/", rollouts):
        assert client_for(stranger).get(url).status_code == 404
    viewer = make_user()
    grant(viewer, namespace, "viewer")
    assert client_for(viewer).get(f"{path}/instances/").status_code == 200
    assert client_for(viewer).get(rollouts).status_code == 200
    assert client_for(viewer).post(rollouts, STAGES, format="json").status_code == 403
    assert not Rollout.objects.exists()


@pytest.mark.parametrize("payload", [
    {"value": 2, "stages": []},
    {"value": 2, "stages": [{"percent": 0}]},
    {"value": 2, "stages": [{"percent": "50"}]},
    {"value": 2, "stages": [{"percent": 50, "labels": {"region": 1}}]},
    {"value": 2, "stages": [{"percent": 50}], "auto_rollback": {"max_rejected": -1}},
    {"value": 2, "stages": [{"percent": 50}], "surprise": True},
    {"stages": [{"percent": 50}]},
    # Label keys are held to the values' rules; max_rejected fits a PostgreSQL integer.
    {"value": 2, "stages": [{"percent": 10, "labels": {"\x00": "v"}}]},
    {"value": 2, "stages": [{"percent": 10, "labels": {"\ud800": "v"}}]},
    {"value": 2, "stages": [{"percent": 10, "labels": {"": "v"}}]},
    {"value": 2, "stages": [{"percent": 10, "labels": {"k" * 101: "v"}}]},
    {"value": 2, "stages": [{"percent": 10}], "auto_rollback": {"max_rejected": 2**31}},
])
def test_rollout_create__bad_input__400_and_nothing_changes(configured, payload):
    client, namespace, path = configured
    # Raw JSON: a lone surrogate cannot pass through the test client's own encoder.
    response = client.post(f"{path}/configs/limit/rollouts/", json.dumps(payload), content_type="application/json")
    assert response.status_code == 400, response.content
    assert body(response)["error"]["code"] == "invalid"
    assert not Rollout.objects.exists()
    namespace.refresh_from_db()
    assert namespace.revision == 1


def test_rollout_create__candidate_fails_the_schema__400_schema_violation_and_nothing_changes(configured):
    client, namespace, path = configured
    assert client.put(f"{path}/configs/limit/schema/", {"schema": {"type": "integer"}}, format="json").status_code == 200
    refused = client.post(f"{path}/configs/limit/rollouts/", {**STAGES, "value": "oops"}, format="json")
    assert refused.status_code == 400, refused.content
    put = client.put(f"{path}/configs/limit/", {"value": "oops"}, format="json")
    assert body(refused)["error"]["code"] == "schema_violation"
    assert body(refused)["error"]["fields"] == body(put)["error"]["fields"] == {"value": [": 'oops' is not of type 'integer'"]}
    assert not Rollout.objects.exists()
    namespace.refresh_from_db()
    assert namespace.revision == 1
    assert body(client.get(f"{path}/configs/"))["rollouts"] == []


def test_rollouts_drive__schema_changed_under_a_candidate_and_a_broken_rollout__rolled_back_others_driven(
    configured, make_namespace, change_context, caplog
):
    client, namespace, path = configured
    failing = body(client.post(f"{path}/configs/limit/rollouts/", {**STAGES, "value": "oops"}, format="json"))
    assert client.put(f"{path}/configs/limit/schema/", {"schema": {"type": "integer"}}, format="json").status_code == 200
    broken_namespace, healthy_namespace = make_namespace(), make_namespace()
    for other in (broken_namespace, healthy_namespace):
        config_set(namespace=other, name="flag", value=1, context=change_context)
    broken = rollout_start(namespace=broken_namespace, name="flag", value=2, stages=STAGES["stages"], max_rejected=0,
                           context=change_context)
    Rollout.objects.filter(pk=broken.pk).update(stage=7)  # a bug: a stage that does not exist
    healthy = rollout_start(namespace=healthy_namespace, name="flag", value=2, stages=STAGES["stages"],
                            max_rejected=0, context=change_context)
    rollouts_drive()
    rolled_back = Rollout.objects.get(pk=failing["id"])
    assert rolled_back.state == "rolled_back"
    assert rolled_back.end_reason == ("The candidate does not match the config's schema: "
                                      ": 'oops' is not of type 'integer'")
    audit = AuditEvent.objects.get(action="rollout.rollback", namespace=namespace)
    assert audit.after["reason"] == rolled_back.end_reason
    assert body(client.get(f"{path}/configs/"))["rollouts"] == []
    assert Rollout.objects.get(pk=broken.pk).state == "running"
    assert f"rollout {broken.pk} of {broken_namespace.path}/flag could not be driven" in caplog.text
    assert Rollout.objects.get(pk=healthy.pk).state == "promoted"


def test_rollout_create__config_missing_or_one_running__404_then_409(configured):
    client, _, path = configured
    assert client.post(f"{path}/configs/nothing/rollouts/", STAGES, format="json").status_code == 404
    assert client.post(f"{path}/configs/limit/rollouts/", STAGES, format="json").status_code == 201
    second = client.post(f"{path}/configs/limit/rollouts/", STAGES, format="json")
    assert second.status_code == 409
    assert Rollout.objects.count() == 1


def test_rollout_stage__published_as_a_rollout_revision__snapshot_and_event_carry_it(configured):
    client, namespace, path = configured
    rollout = body(client.post(f"{path}/configs/limit/rollouts/", {
        "value": {"mode": "new"}, "stages": [{"percent": 30, "labels": {"region": "eu1"}}],
    }, format="json"))
    spec = {"id": rollout["id"], "value": {"mode": "new"}, "percent": 30, "labels": {"region": "eu1"}}
    event = OutboxEvent.objects.get(namespace=namespace, revision=rollout["stage_revision"]).payload
    assert (event["op"], event["name"], event["value"], event["version"], event["rollout"]) == ("rollout", "limit", 1, 1,
                                                                                               spec)
    snapshot = body(client.get(f"{path}/configs/"))
    assert snapshot["revision"] == rollout["stage_revision"] and snapshot["rollouts"] == [{"name": "limit", **spec}]
    assert [config["value"] for config in snapshot["configs"]] == [1]


def test_rollout__promoted__candidate_is_a_new_version_and_the_rollout_ends(configured):
    client, namespace, path = configured
    rollout = body(client.post(f"{path}/configs/limit/rollouts/", STAGES, format="json"))
    promoted = client.post(f"{path}/configs/limit/rollouts/{rollout['id']}/promote/")
    assert promoted.status_code == 200 and body(promoted)["state"] == "promoted"
    config = Configuration.objects.get(namespace=namespace, name="limit", is_active=True)
    assert (config.value, config.version) == (2, 2)
    assert body(client.get(f"{path}/configs/"))["rollouts"] == []
    again = client.post(f"{path}/configs/limit/rollouts/{rollout['id']}/abort/")
    assert again.status_code == 409
    listed = body(client.get(f"{path}/configs/limit/rollouts/"))
    assert [item["state"] for item in listed] == ["promoted"]


def test_rollout__aborted__withdrawn_as_a_revision_and_audited(configured, editor):
    client, namespace, path = configured
    rollout = body(client.post(f"{path}/configs/limit/rollouts/", STAGES, format="json"))
    aborted = body(client.post(f"{path}/configs/limit/rollouts/{rollout['id']}/abort/"))
    assert aborted["state"] == "aborted" and aborted["end_reason"] == f"Aborted by {editor[2].username}."
    namespace.refresh_from_db()
    event = OutboxEvent.objects.get(namespace=namespace, revision=namespace.revision).payload
    assert (event["op"], event["rollout"], event["value"]) == ("rollout", None, 1)
    audit = AuditEvent.objects.get(action="rollout.abort", namespace=namespace)
    assert audit.after["reason"] == aborted["end_reason"]
    assert Configuration.objects.get(namespace=namespace, name="limit", is_active=True).version == 1


def test_rollout__namespace_protected_while_it_runs__promote_409_abort_still_withdraws(configured, change_context):
    client, namespace, path = configured
    rollout = body(client.post(f"{path}/configs/limit/rollouts/", STAGES, format="json"))
    namespace_protect(namespace=namespace, required_approvals=1, context=change_context)
    refused = client.post(f"{path}/configs/limit/rollouts/{rollout['id']}/promote/")
    assert refused.status_code == 409 and body(refused)["error"]["code"] == "change_request_required"
    assert client.post(f"{path}/configs/limit/rollouts/", STAGES, format="json").status_code == 409
    aborted = client.post(f"{path}/configs/limit/rollouts/{rollout['id']}/abort/")
    assert aborted.status_code == 200 and body(aborted)["state"] == "aborted"
    assert body(client.get(f"{path}/configs/"))["rollouts"] == []


def test_config_write__during_a_rollout__409_unless_abort_rollout(configured):
    client, namespace, path = configured
    client.post(f"{path}/configs/limit/rollouts/", STAGES, format="json")
    refused = client.delete(f"{path}/configs/limit/")
    assert refused.status_code == 409 and body(refused)["error"]["code"] == "rollout_running"
    assert client.put(f"{path}/configs/limit/", {"value": 5}, format="json").status_code == 409
    assert client.delete(f"{path}/configs/limit/?abort_rollout=true").status_code == 204
    assert Rollout.objects.get().state == "aborted"
    assert Rollout.objects.get().end_reason == "Aborted by a direct write."


def test_rollout_detail__another_configs_rollout_or_unknown_id__404(configured, change_context):
    client, namespace, path = configured
    config_set(namespace=namespace, name="other", value=1, context=change_context)
    rollout = body(client.post(f"{path}/configs/limit/rollouts/", STAGES, format="json"))
    assert client.get(f"{path}/configs/other/rollouts/{rollout['id']}/").status_code == 404
    assert client.post(f"{path}/configs/other/rollouts/{rollout['id']}/promote/").status_code == 404
    assert client.get(f"{path}/configs/limit/rollouts/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_instances__reports_stored__statuses_summary_and_label_filter(configured):
    client, namespace, path = configured
    topic = ack_topic_for_tenant(namespace.tenant.slug)
    old = (timezone.now() - timedelta(minutes=5)).isoformat()
    stored = reports_store([
        (topic, report(namespace, "current")),
        (topic, report(namespace, "behind", revision=0, labels={"region": "us1"})),
        (topic, report(namespace, "stale", reported_at=old)),
        (topic, report(namespace, "refusing", rejected=[{"revision": 1, "name": "limit", "reason": "too big"}])),
    ])
    assert stored == 4
    listed = body(client.get(f"{path}/instances/"))
    assert {item["instance_id"]: item["status"] for item in listed["instances"]} == {
        "current": "current", "behind": "behind", "stale": "stale", "refusing": "rejected",
    }
    assert listed["summary"] == {"current": 1, "behind": 1, "stale": 1, "rejected": 1}
    filtered = body(client.get(f"{path}/instances/?label=region=us1"))
    assert [item["instance_id"] for item in filtered["instances"]] == ["behind"]
    assert client.get(f"{path}/instances/?label=region").status_code == 400


@pytest.mark.parametrize("label, status", [
    ("\x85=v", 200),  # NEL: whitespace to Python, an ordinary character to JSON Schema's pattern
    (" region=us1", 200),  # another label than region=us1, not that one stripped
    ("region=us1 ", 200),
    # The schema's pattern as Python reads it (the fuzzer's reading) takes
    # these, as ECMA's does not: the server takes both readings' filters.
    ("region=us1\n", 200),
    ("region=us\u20281", 200),
    ("region=us\r1", 200),
    ("region=us\n1", 400),  # under both readings
])
def test_instances__label_filter__taken_as_sent_as_its_schema_pattern_reads(configured, label, status):
    client, namespace, path = configured
    topic = ack_topic_for_tenant(namespace.tenant.slug)
    reports_store([(topic, report(namespace, "behind", revision=0, labels={"region": "us1"}))])
    answer = client.get(f"{path}/instances/", {"label": label})
    assert answer.status_code == status, body(answer)
    if status == 200:
        assert body(answer)["instances"] == []


def test_reports_store__older_report_after_a_newer_one__newer_kept(configured):
    _, namespace, _ = configured
    topic = ack_topic_for_tenant(namespace.tenant.slug)
    reports_store([(topic, report(namespace, revision=1))])
    reports_store([(topic, report(namespace, revision=0, reported_at=(timezone.now() - timedelta(seconds=30)).isoformat()))])
    assert Instance.objects.get(namespace=namespace).revision == 1


def test_reports_store__malformed_or_other_tenants_namespace__dropped_and_counted(configured, make_namespace, settings):
    # Only the per-tenant layout tells a report's tenant by its topic.
    settings.KAFKA_TOPIC_LAYOUT = "per-tenant"
    _, namespace, _ = configured
    other = make_namespace()

    def dropped(reason: str) -> float:
        return ACK_REPORTS_DROPPED.labels(reason=reason)._value.get()

    before = {reason: dropped(reason) for reason in ("malformed", "foreign_namespace", "unknown_namespace")}
    topic = ack_topic_for_tenant(namespace.tenant.slug)
    stored = reports_store([
        (topic, report(other)),
        (topic, report(namespace, revision=-1)),
        (topic, report(namespace, labels={"region": 3})),
        (topic, {"instance_id": "x"}),
        (topic, report(namespace, namespace=f"{namespace.tenant.slug}/nowhere/gone")),
    ])
    assert stored == 0
    assert not Instance.objects.exists()
    assert dropped("foreign_namespace") - before["foreign_namespace"] == 1
    assert dropped("malformed") - before["malformed"] == 3
    assert dropped("unknown_namespace") - before["unknown_namespace"] == 1


def test_reports_store__nul_surrogate_or_out_of_range_in_any_field__dropped_as_malformed_good_ones_stored(configured):
    _, namespace, _ = configured
    topic = ack_topic_for_tenant(namespace.tenant.slug)
    bad = [
        {"instance_id": "x\x00y"}, {"instance_id": "\ud800"}, {"labels": {"region": "a\x00b"}},
        {"labels": {"a\x00b": "eu1"}}, {"sdk": "\x00"}, {"epoch": "\udfff"},
        {"rejected": [{"revision": 1, "name": "limit", "reason": "\x00"}]}, {"namespace": f"{namespace.path}\x00"},
        {"revision": 2**63}, {"reported_at": "2026-13-45T00:00:00Z"}, {"applied_at": "2026-01-01T00:00:00+99:00"},
        {"labels": {"nan": float("nan")}},
    ]
    before = ACK_REPORTS_DROPPED.labels(reason="malformed")._value.get()
    stored = reports_store([(topic, {**report(namespace, f"bad-{n}"), **fields}) for n, fields in enumerate(bad)]
                           + [(topic, report(namespace, "good"))])
    assert stored == 1
    assert list(Instance.objects.values_list("instance_id", flat=True)) == ["good"]
    assert ACK_REPORTS_DROPPED.labels(reason="malformed")._value.get() - before == len(bad)


def test_reports_store__postgresql_refuses_one_report_of_a_batch__only_it_dropped(configured):
    # report_parse lets no such report through; this is the net under it.
    _, namespace, _ = configured
    good, refused = (report_parse(report(namespace, name)) for name in ("good", "refused"))
    refused = dataclasses.replace(refused, labels={"region": "a\x00b"})
    before = ACK_REPORTS_DROPPED.labels(reason="unstorable")._value.get()
    assert _store({(namespace.pk, "good"): good, (namespace.pk, "refused"): refused}, timezone.now()) == 1
    assert list(Instance.objects.values_list("instance_id", flat=True)) == ["good"]
    assert ACK_REPORTS_DROPPED.labels(reason="unstorable")._value.get() - before == 1


def test_reports_store__unsigned_tampered_other_namespaces_or_revoked_token__dropped_unauthenticated(
    configured, make_namespace
):
    _, namespace, _ = configured
    sibling = make_namespace(tenant=namespace.tenant, environment="dev")
    revoked, _ = tenant_services.service_token_create(namespace=namespace, name="old", context=SIGNING_CONTEXT)
    revoked_signer = signer_of(namespace, revoked)
    tenant_services.service_token_revoke(token=revoked, context=SIGNING_CONTEXT)
    unsigned = report(namespace, "unsigned")
    del unsigned["principal"], unsigned["mac"]
    tampered = {**report(namespace, "tampered"), "labels": {"region": "us1"}}
    topic = ack_topic_for_tenant(namespace.tenant.slug)
    before = ACK_REPORTS_DROPPED.labels(reason="unauthenticated")._value.get()
    stored = reports_store([(topic, item) for item in (
        unsigned, tampered, report(namespace, "sibling", signer=signer_of(sibling)),
        report(namespace, "revoked", signer=revoked_signer), report(namespace, "good", labels={"zone": "é"}),
    )])
    assert stored == 1
    assert list(Instance.objects.values_list("instance_id", flat=True)) == ["good"]
    assert ACK_REPORTS_DROPPED.labels(reason="unauthenticated")._value.get() - before == 4


def test_report_mac__server_and_sdk__agree():
    signed = {"instance_id": "i", "labels": {"zone": "é", "a": "\u2603"}, "revision": 3, "applied_at": None}
    assert report_mac("pw", {**signed, "mac": "x"}) == sdk_report_mac("pw", signed)


def test_convergence__applies_at_known_times__percentiles_from_the_commit(configured, change_context):
    client, namespace, path = configured
    config_set(namespace=namespace, name="limit", value=3, context=change_context)
    # Committed a minute ago: apply times are never taken as later than their arrival.
    committed_at = timezone.now() - timedelta(minutes=1)
    OutboxEvent.objects.filter(namespace=namespace, revision=2).update(created_at=committed_at)
    topic = ack_topic_for_tenant(namespace.tenant.slug)
    reports_store([
        (topic, report(namespace, f"i{number}", revision=2,
                       applied_at=(committed_at + timedelta(seconds=number + 1)).isoformat()))
        for number in range(4)
    ] + [(topic, report(namespace, "late", revision=1))])
    convergence = body(client.get(f"{path}/revisions/2/convergence/"))
    assert (convergence["instances"], convergence["applied"]) == (5, 4)
    assert convergence["times"]["p50"]["seconds"] == 3.0
    assert convergence["times"]["p90"] is None and convergence["times"]["p100"] is None
    assert client.get(f"{path}/revisions/99/convergence/").status_code == 404


def test_instances_forget__unseen_for_a_day__removed_with_their_applies(configured):
    _, namespace, _ = configured
    topic = ack_topic_for_tenant(namespace.tenant.slug)
    reports_store([(topic, report(namespace, "old")), (topic, report(namespace, "new"))])
    Instance.objects.filter(instance_id="old").update(last_seen=timezone.now() - timedelta(days=2))
    Apply.objects.filter(instance_id="old").update(applied_at=timezone.now() - timedelta(days=2))
    assert instances_forget(older_than=timezone.now() - timedelta(days=1)) == 1
    assert list(Instance.objects.values_list("instance_id", flat=True)) == ["new"]
    assert list(Apply.objects.values_list("instance_id", flat=True)) == ["new"]


def test_fleet_page__reports_and_a_rollout__statuses_chart_and_rollout_listed(configured, editor, change_context):
    client, namespace, path = configured
    user = editor[2]
    config_set(namespace=namespace, name="limit", value=3, context=change_context)
    topic = ack_topic_for_tenant(namespace.tenant.slug)
    reports_store([(topic, report(namespace, "web-1", revision=2)), (topic, report(namespace, "web-2", revision=1))])
    rollout = body(client.post(f"{path}/configs/limit/rollouts/", STAGES, format="json"))
    page = Client()
    page.force_login(user)
    response = page.get(f"/ui/namespaces/{namespace.path}/fleet/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-instance="web-1"' in html and "<svg" in html and "rev 2 (1/2)" in html
    assert f"/configs/limit/rollouts/{rollout['id']}/" in html
    filtered = page.get(f"/ui/namespaces/{namespace.path}/fleet/?label=region=us1").content.decode()
    assert 'data-instance="web-1"' not in filtered


def test_fleet_page__label_filter_with_nul_or_not_key_value__400_page_and_empty_filter_ignored(configured, editor):
    _, namespace, _ = configured
    page = Client()
    page.force_login(editor[2])
    url = f"/ui/namespaces/{namespace.path}/fleet/"
    for query in ("label=k=%00", "label=k%00=v", "label=novalue", "label==v"):
        response = page.get(f"{url}?{query}")
        assert response.status_code == 400, query
        assert "The label filter must be key=value" in response.content.decode()
    assert page.get(f"{url}?label=").status_code == 200


def test_rollout_page__production_namespace__abort_needs_confirmation_and_viewers_may_not(
    make_user, grant, change_context
):
    tenant = tenant_services.tenant_create(slug=unique_slug("t"), context=change_context)
    namespace = tenant_services.namespace_create(tenant=tenant, environment="production", service="api",
                                                 context=change_context, is_production=True)
    config_set(namespace=namespace, name="limit", value=1, context=change_context)
    editor, viewer = make_user(), make_user()
    grant(editor, namespace, "editor")
    grant(viewer, namespace, "viewer")
    rollout = rollout_start(namespace=namespace, name="limit", value=2, stages=[{"percent": 50}], max_rejected=0,
                            context=ChangeContext(actor=editor))
    url = f"/ui/namespaces/{namespace.path}/configs/limit/rollouts/{rollout.pk}/"
    as_viewer = Client()
    as_viewer.force_login(viewer)
    assert as_viewer.get(url).status_code == 200
    assert as_viewer.post(url, {"action": "abort"}).status_code == 403
    as_editor = Client()
    as_editor.force_login(editor)
    unconfirmed = as_editor.post(url, {"action": "abort"})
    assert unconfirmed.status_code == 400 and "production namespace" in unconfirmed.content.decode()
    assert Rollout.objects.get().state == "running"
    confirmed = as_editor.post(url, {"action": "abort", "confirm_production": "on"})
    assert confirmed.status_code == 302
    assert Rollout.objects.get().state == "aborted"
