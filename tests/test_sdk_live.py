"""The client SDK against the real API (live server), relay, PostgreSQL and Kafka."""

import json
import logging
import subprocess
import sys
import threading
import time

import pytest
from confluent_kafka import Producer
from django.db import connection
from noreboot import ConfigClient
from noreboot.partitioner import partition_for_namespace

from apps.configs.events import route_for
from apps.configs.models import Configuration
from apps.configs.publisher import platform_client_config
from apps.configs.services import config_set
from apps.tenants.models import Namespace
from apps.tenants.services import service_token_create
from tests.support.kafka import kafka_script

pytestmark = pytest.mark.django_db(transaction=True)


def database_state(namespace: Namespace) -> tuple[int, dict]:
    namespace.refresh_from_db()
    values = dict(Configuration.objects.filter(namespace=namespace, is_active=True).values_list("name", "value"))
    return namespace.revision, values


def test_import__noreboot__does_not_import_django():
    code = "import sys, noreboot; print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_client__a_put_through_the_api__applied_and_listener_called_once(sdk_client, make_namespace, client_for,
                                                                        make_user, grant, change_context):
    namespace = make_namespace()
    config_set(namespace=namespace, name="timeout", value=1.5, context=change_context)
    client = sdk_client(namespace)
    assert client.get_float("timeout") == 1.5 and client.revision == 1
    calls = []
    called = threading.Event()
    client.on_change(lambda name, old, new: (calls.append((name, old, new)), called.set()))
    user = make_user()
    grant(user, namespace, "editor")
    response = client_for(user).put(f"/api/v1/namespaces/{namespace.path}/configs/timeout/", {"value": 2.5},
                                    format="json")
    assert response.status_code == 201
    assert client.wait_for_revision(2, timeout=20)
    assert client.get_float("timeout") == 2.5
    assert called.wait(timeout=20)
    assert calls == [("timeout", 1.5, 2.5)]


def test_client__200_writes_racing_5_starts__every_client_ends_at_the_database_state(
    sdk_client, make_namespace, change_context
):
    namespace = make_namespace()
    done = threading.Event()

    def write() -> None:
        for value in range(200):
            config_set(namespace=namespace, name=f"k{value % 13}", value=value, context=change_context)
        done.set()
        connection.close()

    writer = threading.Thread(target=write)
    writer.start()
    clients = [sdk_client(namespace) for _ in range(5)]
    writer.join(timeout=120)
    assert done.is_set()
    revision, values = database_state(namespace)
    assert revision == 200
    for client in clients:
        assert client.wait_for_revision(revision, timeout=30), client.revision
        assert dict(client.snapshot()) == values


def test_client__namespace_b_on_the_same_partition__never_applied_by_a(sdk_client, make_namespace, change_context):
    first = make_namespace()
    partitions = route_for(first).partitions
    second = make_namespace(tenant=first.tenant, environment="staging")
    environment = 0
    while partition_for_namespace(second.path, partitions) != partition_for_namespace(first.path, partitions):
        environment += 1
        second = make_namespace(tenant=first.tenant, environment=f"env{environment}")
    config_set(namespace=first, name="shared-name", value="a", context=change_context)
    client = sdk_client(first)
    seen = []
    marker_seen = threading.Event()
    client.on_change(lambda name, old, new: (seen.append((name, new)), name == "marker" and marker_seen.set()))
    for value in range(5):
        config_set(namespace=second, name="shared-name", value=f"b{value}", context=change_context)
    config_set(namespace=first, name="marker", value=True, context=change_context)
    assert client.wait_for_revision(2, timeout=20) and marker_seen.wait(timeout=20)
    assert client.get("shared-name") == "a"
    assert seen == [("marker", True)]


def _produce(namespace: Namespace, event: dict) -> None:
    """Publish as the platform does: only a platform principal may write a config topic."""
    producer = Producer({**platform_client_config(), "partitioner": "murmur2_random"})
    producer.produce(route_for(namespace).topic, key=namespace.path.encode(), value=json.dumps(event).encode())
    assert producer.flush(10) == 0


def test_client__duplicates_and_a_forced_gap__replays_ignored_and_one_resnapshot_converges(
    sdk_client, make_namespace, caplog, change_context
):
    namespace = make_namespace()
    for value in range(3):
        config_set(namespace=namespace, name="n", value=value, context=change_context)
    client = sdk_client(namespace)
    assert client.revision == 3
    stale = {"namespace": namespace.path, "name": "n", "value": "replayed", "version": 1, "revision": 2,
             "op": "upsert", "event_id": "x", "changed_at": "2026-01-01T00:00:00Z", "actor": "test"}
    _produce(namespace, stale)
    _produce(namespace, dict(stale, revision=3))
    config_set(namespace=namespace, name="n", value=3, context=change_context)
    assert client.wait_for_revision(4, timeout=20)
    assert client.get("n") == 3

    caplog.set_level(logging.INFO, logger="noreboot")
    # Revision 6 when the client is at 4: revision 5 was never seen, so the client must ask the API.
    config_set(namespace=namespace, name="n", value=4, context=change_context)
    assert client.wait_for_revision(5, timeout=20)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE tenants_namespace SET revision = revision + 1 WHERE id = %s", [namespace.pk])
    config_set(namespace=namespace, name="n", value="after-gap", context=change_context)
    revision, values = database_state(namespace)
    assert client.wait_for_revision(revision, timeout=30)
    assert dict(client.snapshot()) == values
    resyncs = [r for r in caplog.records if "fetching a new snapshot" in r.getMessage()]
    assert len(resyncs) == 1


def test_client__api_down_at_start__starts_from_its_disk_cache(sdk_client, make_namespace, tmp_path, change_context):
    namespace = make_namespace()
    config_set(namespace=namespace, name="flag", value=True, context=change_context)
    sdk_client(namespace, cache_dir=tmp_path / "shared").close()
    _, secret = service_token_create(namespace=namespace, name="offline", context=change_context)
    offline = ConfigClient(
        namespace=namespace.path, api_url="http://127.0.0.1:9", token=secret,
        cache_dir=tmp_path / "shared", snapshot_timeout=5,
    ).start()
    try:
        assert offline.source == "cache"
        assert offline.get_bool("flag") is True and offline.revision == 1
    finally:
        offline.close()


@pytest.mark.stops_shared_service
def test_client__kafka_stopped_then_started__catches_up_with_every_change(sdk_client, make_namespace, change_context):
    namespace = make_namespace()
    config_set(namespace=namespace, name="n", value=0, context=change_context)
    client = sdk_client(namespace)
    kafka_script("stop")
    try:
        for value in range(1, 11):
            config_set(namespace=namespace, name=f"n{value % 3}", value=value, context=change_context)
    finally:
        kafka_script("start")
    revision, values = database_state(namespace)
    assert client.wait_for_revision(revision, timeout=60)
    assert dict(client.snapshot()) == values


def test_client__a_callback_that_raises__later_updates_still_applied(sdk_client, make_namespace, change_context):
    namespace = make_namespace()
    client = sdk_client(namespace)
    calls = []
    called = {1: threading.Event(), 2: threading.Event()}

    def explode(name, old, new):
        calls.append(new)
        called[new].set()
        raise RuntimeError("listener bug")

    client.on_change(explode)
    config_set(namespace=namespace, name="n", value=1, context=change_context)
    assert called[1].wait(timeout=20)
    config_set(namespace=namespace, name="n", value=2, context=change_context)
    assert called[2].wait(timeout=20)
    assert client.get("n") == 2 and calls == [1, 2]


def test_client__only_url_namespace_and_token__live_updates_over_tls_and_scram(
    sdk_client, make_namespace, change_context
):
    namespace = make_namespace()
    client = sdk_client(namespace)
    applied = threading.Event()
    client.on_change(lambda name, old, new: new == "on" and applied.set(), names="feature")
    config_set(namespace=namespace, name="feature", value="on", context=change_context)
    assert applied.wait(timeout=20)
    _wait_consuming(client)
    status = client.status()
    assert (status.feed, status.connected, status.source) == ("kafka", True, "api"), status
    assert client.get("feature") == "on"


def _wait_consuming(client: ConfigClient) -> None:
    """start() returns with the snapshot; the listener then notes its offset.
    An event produced before that is, rightly, taken as already in the snapshot."""
    deadline = time.monotonic() + 20
    while not client.status().connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.status().connected, client.status()


def _forged(namespace: Namespace, revision: int) -> dict:
    return {"namespace": namespace.path, "name": "limit", "value": 10**9, "version": revision, "revision": revision,
            "op": "upsert", "event_id": "forged", "changed_at": "2026-01-01T00:00:00Z", "actor": "mallory"}


def test_client__forged_event_at_the_next_revision__repaired_within_one_refresh_interval(
    sdk_client, make_namespace, change_context
):
    namespace = make_namespace()
    config_set(namespace=namespace, name="limit", value=10, context=change_context)
    refresh_interval = 3.0
    client = sdk_client(namespace, refresh_interval=refresh_interval)
    assert client.revision == 1
    _wait_consuming(client)
    # A compromised producer (platform credentials here) forges revision 2.
    _produce(namespace, _forged(namespace, 2))
    assert client.wait_for_revision(2, timeout=20) and client.get("limit") == 10**9
    applied_forgery_at = time.monotonic()
    # The database has no revision 2 and nothing else is written: only the
    # periodic refresh can tell. It takes a lower served revision for a
    # lagging server for a grace period (5 s) before it believes it.
    deadline = applied_forgery_at + refresh_interval + 5 + 5
    while client.get("limit") != 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("limit") == 10 and client.revision == 1


def test_client__genuine_event_at_a_forged_revision__resnapshots_instead_of_dropping_it(
    sdk_client, make_namespace, change_context
):
    namespace = make_namespace()
    config_set(namespace=namespace, name="limit", value=10, context=change_context)
    client = sdk_client(namespace)
    _wait_consuming(client)
    _produce(namespace, _forged(namespace, 2))
    assert client.wait_for_revision(2, timeout=20) and client.get("limit") == 10**9
    # The genuine revision 2 has other content than the forged one the client
    # holds: not a duplicate to drop, but a reason to fetch the snapshot.
    config_set(namespace=namespace, name="limit", value=20, context=change_context)
    deadline = time.monotonic() + 20
    while client.get("limit") != 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dict(client.snapshot()) == {"limit": 20} and client.revision == 2
