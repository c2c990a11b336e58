"""Config core over the API: the seed spec's endpoints, namespaced reads and
writes, versions, and the namespace revision."""

import hashlib
import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from apps.configs.events import route_for
from apps.configs.lineage import database_epoch
from apps.configs.models import Configuration, OutboxEvent
from tests.conftest import body
from tests.support.processes import ApiServer

pytestmark = pytest.mark.django_db


def test_spec_update__new_name__201_with_the_spec_shape(default_editor):
    response = default_editor.post("/api/configs/update/", {"name": "feature_x", "value": True}, format="json")
    assert response.status_code == 201
    created = body(response)
    assert set(created) == {"id", "name", "value", "is_active", "created_at"}
    assert created["name"] == "feature_x" and created["value"] is True and created["is_active"] is True


def test_spec_list__after_two_updates_of_one_name__lists_the_active_version_only(default_editor):
    default_editor.post("/api/configs/update/", {"name": "rate", "value": 10}, format="json")
    default_editor.post("/api/configs/update/", {"name": "rate", "value": {"per_s": 20}}, format="json")
    response = default_editor.get("/api/configs/")
    assert response.status_code == 200
    rows = [row for row in body(response) if row["name"] == "rate"]
    assert len(rows) == 1
    assert set(rows[0]) == {"id", "name", "value", "is_active", "created_at"}
    assert rows[0]["value"] == {"per_s": 20}


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"value": 1}, "name"),
        ({"name": "bad name!", "value": 1}, "name"),
        ({"name": "ok"}, "value"),
        ({"name": "ok", "value": None}, "value"),
    ],
)
def test_spec_update__invalid_body__400_naming_the_field_and_nothing_written(default_editor, payload, field):
    before = (Configuration.objects.count(), OutboxEvent.objects.count())
    response = default_editor.post("/api/configs/update/", payload, format="json")
    assert response.status_code == 400
    assert field in body(response)["error"]["fields"]
    assert (Configuration.objects.count(), OutboxEvent.objects.count()) == before


def test_spec_update__body_not_json__400_and_nothing_written(default_editor):
    before = Configuration.objects.count()
    response = default_editor.generic("POST", "/api/configs/update/", "{name: oops", content_type="application/json")
    assert response.status_code == 400
    assert body(response)["error"]["code"] == "parse_error"
    assert Configuration.objects.count() == before


def test_namespace_put__three_writes__versions_one_to_three_and_revision_three(editor):
    client, namespace, _ = editor
    url = f"/api/v1/namespaces/{namespace.path}/configs/timeout/"
    versions = [body(client.put(url, {"value": v}, format="json"))["version"] for v in (1, 2, 3)]
    assert versions == [1, 2, 3]
    snapshot = body(client.get(f"/api/v1/namespaces/{namespace.path}/configs/"))
    assert snapshot["namespace"] == namespace.path
    assert snapshot["revision"] == 3
    assert (snapshot["topic"], snapshot["partitions"]) == (route_for(namespace).topic, route_for(namespace).partitions)
    assert [(c["name"], c["value"], c["version"]) for c in snapshot["configs"]] == [("timeout", 3, 3)]
    assert Configuration.objects.filter(namespace=namespace, name="timeout", is_active=True).count() == 1


def test_namespace_put__response__201_with_version_and_etag(editor):
    client, namespace, user = editor
    response = client.put(
        f"/api/v1/namespaces/{namespace.path}/configs/limits/", {"value": {"rps": 5}, "comment": "why"}, format="json"
    )
    assert response.status_code == 201
    created = body(response)
    assert created["version"] == 1 and created["value"] == {"rps": 5} and created["comment"] == "why"
    assert created["created_by"] == user.username and created["namespace"] == namespace.path
    assert response["ETag"] == '"1"'
    fetched = client.get(f"/api/v1/namespaces/{namespace.path}/configs/limits/")
    assert fetched.status_code == 200 and body(fetched)["value"] == {"rps": 5}


def test_namespace_list__current_etag__304_and_a_write_changes_the_etag(editor):
    client, namespace, _ = editor
    url = f"/api/v1/namespaces/{namespace.path}/configs/"
    client.put(f"{url}a/", {"value": 1}, format="json")
    first = client.get(url)
    etag = first["ETag"]
    assert etag == '"1"'
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    client.put(f"{url}a/", {"value": 2}, format="json")
    changed = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] == '"2"'


def test_namespace_put__each_write__one_outbox_event_with_the_contract_payload(editor):
    client, namespace, user = editor
    client.put(f"/api/v1/namespaces/{namespace.path}/configs/flag/", {"value": True}, format="json",
               HTTP_X_REQUEST_ID="req-123")
    (event,) = OutboxEvent.objects.filter(namespace=namespace)
    assert event.key == namespace.path
    payload = event.payload
    assert {k: payload[k] for k in ("namespace", "name", "value", "version", "revision", "op", "actor")} == {
        "namespace": namespace.path, "name": "flag", "value": True, "version": 1, "revision": 1,
        "op": "upsert", "actor": user.username,
    }
    assert payload["changed_at"].endswith("Z") and len(payload["event_id"]) == 36
    assert event.request_id == "req-123"


def test_snapshot_cache__over_its_size__evicts_the_least_recently_used():
    from apps.configs.snapshot_cache import SnapshotBodyCache

    cache = SnapshotBodyCache(max_bytes=10)
    cache.put(1, 1, "e", b"aaaa")
    cache.put(1, 2, "e", b"bbbb")
    assert cache.get(1, 1, "e") == b"aaaa"  # now the most recently used
    cache.put(2, 1, "e", b"cccc")
    assert cache.get(1, 2, "e") is None and cache.get(1, 1, "e") == b"aaaa" and cache.get(2, 1, "e") == b"cccc"
    cache.put(3, 1, "e", b"x" * 11)
    assert cache.get(3, 1, "e") is None
    # The same revision of another database epoch (after a restore) is another snapshot.
    assert cache.get(1, 1, "other epoch") is None


def test_namespace_list__served_from_cache__a_write_still_shows_at_once(editor):
    client, namespace, _ = editor
    url = f"/api/v1/namespaces/{namespace.path}/configs/"
    client.put(f"{url}a/", {"value": 1}, format="json")
    assert body(client.get(url))["configs"][0]["value"] == 1
    assert body(client.get(url))["configs"][0]["value"] == 1
    client.put(f"{url}a/", {"value": 2}, format="json")
    assert body(client.get(url)) | {"configs": None} == {
        "namespace": namespace.path, "revision": 2, "epoch": database_epoch(), "topic": route_for(namespace).topic, "partitions": 6, "digest": hashlib.sha256(b"{\"a\":2}").hexdigest(), "configs": None, "rollouts": [],
    }
    assert body(client.get(url))["configs"][0]["value"] == 2


@pytest.mark.django_db(transaction=True)
def test_namespace_put__50_concurrent_http_writers_on_one_config__versions_1_to_50_one_active_revision_50(
    editor, settings
):
    _, namespace, user = editor
    token = str(AccessToken.for_user(user))
    # The production server (deploy/serve.py, several workers), not the test server with its short listen queue.
    api = ApiServer(settings.DATABASES["default"]["NAME"])
    api.start()
    url = f"{api.url}/api/v1/namespaces/{namespace.path}/configs/contended/"
    start = threading.Barrier(50)

    def write(value: int) -> int:
        request = urllib.request.Request(url, method="PUT", data=json.dumps({"value": value}).encode(),
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        start.wait()
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status

    try:
        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(write, range(50)))
    finally:
        api.stop()
    assert statuses == [201] * 50
    versions = sorted(Configuration.objects.filter(namespace=namespace, name="contended").values_list("version", flat=True))
    assert versions == list(range(1, 51))
    assert Configuration.objects.filter(namespace=namespace, name="contended", is_active=True).count() == 1
    namespace.refresh_from_db()
    assert namespace.revision == 50
    assert sorted(OutboxEvent.objects.filter(namespace=namespace).values_list("revision", flat=True)) == list(range(1, 51))
