"""Changesets over the API: several namespaces in one transaction, one revision
and one batch event per namespace, all or nothing; end to end with the relay,
Kafka, SDK clients and concurrent HTTP callers."""

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from noreboot import MultiNamespaceClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.audit.models import AuditEvent
from apps.configs.definitions import config_schema_set
from apps.configs.models import Configuration, OutboxEvent
from apps.configs.services import config_set
from apps.tenants.models import Namespace
from tests.conftest import body
from tests.support.processes import ApiServer, http_call
from tests.test_sdk_live import _wait_consuming as wait_consuming

pytestmark = pytest.mark.django_db

NAMES = [f"flag{i}" for i in range(10)]


@pytest.fixture
def three_namespaces(make_namespace, make_user, grant, client_for):
    """(API client, [dev, stage, prod] of one tenant's checkout, user): a tenant-wide editor."""
    first = make_namespace(environment="dev")
    namespaces = [first, make_namespace(first.tenant, "stage"), make_namespace(first.tenant, "prod")]
    user = make_user()
    grant(user, first.tenant, "editor")
    return client_for(user), namespaces, user


def changes_for(namespaces, names, value=1):
    return [{"namespace": ns.path, "name": name, "op": "set", "value": value} for ns in namespaces for name in names]


def state(namespaces):
    """Each namespace's revision and version count: what a refused changeset must leave alone."""
    return [(Namespace.objects.get(pk=ns.pk).revision, Configuration.objects.filter(namespace=ns).count())
            for ns in namespaces]


def test_changeset__two_namespaces_sets_and_a_delete__one_revision_each_and_one_batch_event_each(
    three_namespaces, change_context
):
    client, (dev, stage, _prod), _ = three_namespaces
    config_set(namespace=stage, name="old", value="x", context=change_context)
    changes = changes_for([dev, stage], ["a", "b"]) + [{"namespace": stage.path, "name": "old", "op": "delete"}]
    response = client.post("/api/v1/changesets/", {"changes": changes, "comment": "both"}, format="json")
    assert response.status_code == 201, body(response)
    created = body(response)
    assert created["revisions"] == {dev.path: 1, stage.path: 2}
    assert [(c["name"], c["op"], c["version"], c["revision"]) for c in created["changes"]][-1] == ("old", "delete", 2, 2)
    events = [row.payload for row in OutboxEvent.objects.filter(namespace__in=[dev, stage]).order_by("id")]
    batches = [event for event in events if event["op"] == "batch"]
    assert len(batches) == 2 and len(events) == 3  # the setup's single event, then the two batches
    stage_batch = next(event for event in batches if event["namespace"] == stage.path)
    assert stage_batch["revision"] == 2 and stage_batch["changeset"] == created["id"]
    assert stage_batch["changeset_revisions"] == {dev.path: 1, stage.path: 2}
    assert [(c["name"], c["op"], c["value"], c["version"]) for c in stage_batch["changes"]] == [
        ("a", "upsert", 1, 1), ("b", "upsert", 1, 1), ("old", "delete", None, 2)]
    assert "changes" not in events[0] and events[0]["op"] == "upsert"
    audited = AuditEvent.objects.filter(changeset_id=created["id"])
    assert audited.filter(action="config.set").count() == 4 and audited.filter(action="config.delete").count() == 1
    assert audited.filter(action="changeset.apply").count() == 2
    shown = client.get(f"/api/v1/changesets/{created['id']}/")
    assert shown.status_code == 200 and body(shown) == created


@pytest.mark.parametrize("bad, field, status", [
    ({"expected_version": 7}, "changes[3]", 412),
    ({"value": "nul\u0000"}, "changes[3].value", 400),
    ({"value": None}, "changes[3].value", 400),
])
def test_changeset__one_bad_change__4xx_naming_it_and_nothing_written(three_namespaces, bad, field, status):
    client, namespaces, _ = three_namespaces
    changes = changes_for(namespaces, ["a", "b"])
    changes[3].update(bad)
    before = state(namespaces)
    response = client.post("/api/v1/changesets/", {"changes": changes}, format="json")
    assert response.status_code == status
    assert field in body(response)["error"]["fields"], body(response)
    assert state(namespaces) == before
    assert not OutboxEvent.objects.filter(namespace__in=namespaces).exists()


def test_changeset__one_schema_violating_change__400_schema_violation_naming_it_and_nothing_written(
    three_namespaces, change_context
):
    client, namespaces, _ = three_namespaces
    config_schema_set(namespace=namespaces[2], name="b", schema={"type": "integer", "maximum": 10},
                      context=change_context)
    changes = changes_for(namespaces, ["a", "b"])
    changes[5]["value"] = 11
    before = state(namespaces)
    response = client.post("/api/v1/changesets/", {"changes": changes}, format="json")
    assert response.status_code == 400 and body(response)["error"]["code"] == "schema_violation"
    assert list(body(response)["error"]["fields"]) == ["changes[5].value"]
    assert state(namespaces) == before


def test_changeset__same_config_twice__400_naming_the_second(three_namespaces):
    client, namespaces, _ = three_namespaces
    changes = changes_for(namespaces[:1], ["a", "a"])
    response = client.post("/api/v1/changesets/", {"changes": changes}, format="json")
    assert response.status_code == 400 and "changes[1]" in body(response)["error"]["fields"]


@pytest.mark.parametrize("count", [0, 501])
def test_changeset__no_or_too_many_changes__400(three_namespaces, count):
    client, namespaces, _ = three_namespaces
    changes = [{"namespace": namespaces[0].path, "name": f"n{i}", "op": "set", "value": i} for i in range(count)]
    response = client.post("/api/v1/changesets/", {"changes": changes}, format="json")
    assert response.status_code == 400 and "changes" in body(response)["error"]["fields"]


def test_changeset__a_namespace_without_the_editor_role__403_and_nothing_written(
    three_namespaces, make_user, grant, client_for
):
    _, namespaces, _ = three_namespaces
    user = make_user()
    grant(user, namespaces[0], "editor")
    grant(user, namespaces[1], "viewer")
    before = state(namespaces)
    response = client_for(user).post("/api/v1/changesets/", {"changes": changes_for(namespaces[:2], ["a"])},
                                     format="json")
    assert response.status_code == 403 and "changes[1]" in body(response)["error"]["fields"]
    assert state(namespaces) == before


def test_changeset__another_tenants_namespace__404_and_unauthenticated_401(
    three_namespaces, make_namespace, client
):
    editor_client, namespaces, _ = three_namespaces
    foreign = make_namespace()
    response = editor_client.post("/api/v1/changesets/", {"changes": changes_for([namespaces[0], foreign], ["a"])},
                                  format="json")
    assert response.status_code == 404 and "changes[1]" in body(response)["error"]["fields"]
    assert client.post("/api/v1/changesets/", {"changes": []}, content_type="application/json").status_code == 401


def test_changeset_detail__viewer_of_only_some_namespaces__404(three_namespaces, make_user, grant, client_for):
    client, namespaces, _ = three_namespaces
    created = body(client.post("/api/v1/changesets/", {"changes": changes_for(namespaces, ["a"])}, format="json"))
    partial = make_user()
    grant(partial, namespaces[0], "viewer")
    assert client_for(partial).get(f"/api/v1/changesets/{created['id']}/").status_code == 404
    assert client.get("/api/v1/changesets/999999999/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_changeset__3_namespaces_x_10_configs__3_batch_events_and_sdk_clients_swap_all_10_at_once(
    three_namespaces, sdk_client, topic_tail, change_context
):
    client, namespaces, _ = three_namespaces
    for namespace in namespaces:
        for name in NAMES:
            config_set(namespace=namespace, name=name, value=0, context=change_context)
    watched = sdk_client(namespaces[0])
    multi = MultiNamespaceClient([watched, sdk_client(namespaces[1])])
    for started in (watched, multi[namespaces[1].path]):
        wait_consuming(started)
    assert watched.revision == 10
    mixes, samples = [], []

    def sample() -> None:
        # One snapshot per read: its 10 values must be all old or all new;
        # sampling until the new ones are read (or the test gives up).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not samples or samples[-1] != {1}):
            snapshot = watched.snapshot()
            seen = {snapshot[name] for name in NAMES}
            samples.append(seen)
            if len(seen) != 1:
                mixes.append(seen)

    heard, all_new_when_heard = [], []

    def listener(name, old, new) -> None:
        heard.append((name, old, new))
        # Listeners run after the swap: every value of the batch is already served.
        all_new_when_heard.append(all(watched.get(other) == 1 for other in NAMES))

    watched.on_change(listener)
    reader = threading.Thread(target=sample, daemon=True)
    reader.start()
    changes = [{"namespace": ns.path, "name": name, "op": "set", "value": 1} for ns in namespaces for name in NAMES]
    response = client.post("/api/v1/changesets/", {"changes": changes}, format="json")
    assert response.status_code == 201, body(response)
    created = body(response)
    assert multi.wait_for_changeset(created["id"], timeout=30)
    reader.join(timeout=30)
    assert created["revisions"] == {ns.path: 11 for ns in namespaces}
    assert Configuration.objects.filter(namespace__in=namespaces, version=2, value=1).count() == 30
    assert multi[namespaces[1].path].get("flag9") == 1 and watched.revision == 11
    assert not mixes and samples[0] == {0} and samples[-1] == {1}
    assert sorted(heard) == sorted((name, 0, 1) for name in NAMES) and all(all_new_when_heard)
    for namespace in namespaces:
        # After the setup's ten single events.
        event = topic_tail.collect(namespace.path, 11)[-1]
        assert event["op"] == "batch" and event["revision"] == 11 and event["changeset"] == created["id"]
        assert [change["name"] for change in event["changes"]] == NAMES


@pytest.mark.django_db(transaction=True)
def test_changeset__20_concurrent_over_overlapping_namespaces_in_random_order__all_201_revisions_contiguous(
    three_namespaces, settings
):
    _, namespaces, user = three_namespaces
    token = str(AccessToken.for_user(user))
    api = ApiServer(settings.DATABASES["default"]["NAME"])
    api.start()
    start = threading.Barrier(20)
    shuffler = random.Random(20)
    bodies = []
    for number in range(20):
        touched = shuffler.sample(namespaces, shuffler.randint(2, 3))
        names = shuffler.sample(NAMES, 3)
        bodies.append({"changes": [{"namespace": ns.path, "name": name, "op": "set", "value": number}
                                   for ns in touched for name in names]})

    def post(changeset: dict) -> tuple[int, str]:
        start.wait()
        return http_call(f"{api.url}/api/v1/changesets/", "POST", token, changeset)

    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(post, bodies))
    finally:
        api.stop()
    assert [status for status, _ in answers] == [201] * 20, [text for status, text in answers if status != 201]
    for namespace in namespaces:
        touching = sum(1 for changeset in bodies if any(c["namespace"] == namespace.path for c in changeset["changes"]))
        assert Namespace.objects.get(pk=namespace.pk).revision == touching
        revisions = sorted(OutboxEvent.objects.filter(namespace=namespace).values_list("revision", flat=True))
        assert revisions == list(range(1, touching + 1))
