"""The revision epoch: the database's lineage id, made at migrate, replaced by
`manage.py start_new_epoch` after a restore, carried by snapshots and events;
an SDK that holds revisions of the old history follows the new one."""

import time

import pytest
from django.core.management import call_command
from django.db import transaction

from apps.configs.lineage import database_epoch
from apps.configs.models import Configuration, OutboxEvent
from apps.configs.services import config_set
from apps.tenants.models import Namespace

pytestmark = pytest.mark.django_db(transaction=True)


def test_migrate__fresh_database__has_an_epoch(db):
    assert len(database_epoch()) == 36


def test_start_new_epoch__unpublished_events__new_epoch_on_them_and_on_later_writes(make_namespace, change_context,
                                                                                   capsys):
    namespace = make_namespace()
    old = database_epoch()
    config_set(namespace=namespace, name="n", value=1, context=change_context)
    call_command("start_new_epoch")
    new = database_epoch()
    config_set(namespace=namespace, name="n", value=2, context=change_context)

    assert new != old and f"new epoch {new}" in capsys.readouterr().out
    # No relay runs here, so both events are still unpublished.
    epochs = OutboxEvent.objects.filter(namespace=namespace).order_by("revision").values_list("payload__epoch", flat=True)
    assert list(epochs) == [new, new]


def test_snapshot__any_namespace__carries_the_database_epoch(editor):
    client, namespace, _ = editor
    response = client.get(f"/api/v1/namespaces/{namespace.path}/configs/")
    assert response.status_code == 200 and response.json()["epoch"] == database_epoch()


def test_relay__event__carries_the_database_epoch(relay, topic_tail, make_namespace, change_context):
    namespace = make_namespace()
    config_set(namespace=namespace, name="n", value=1, context=change_context)
    (message,) = topic_tail.collect(namespace.path, 1, timeout=30)
    assert message["epoch"] == database_epoch()


def eventually(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def restore_to_revision(namespace: Namespace, revision: int) -> None:
    """What restoring a backup taken at `revision` does to one namespace: later changes are gone."""
    with transaction.atomic():
        OutboxEvent.objects.filter(namespace=namespace, revision__gt=revision).delete()
        Configuration.objects.filter(namespace=namespace, revision__gt=revision).delete()
        for name in Configuration.objects.filter(namespace=namespace).values_list("name", flat=True).distinct():
            latest = Configuration.objects.filter(namespace=namespace, name=name).order_by("-version").first()
            Configuration.objects.filter(pk=latest.pk).update(is_active=not latest.is_tombstone)
        Namespace.objects.filter(pk=namespace.pk).update(revision=revision)


def test_client__holding_revision_50_then_the_database_restored_to_20_with_a_new_epoch__follows_the_new_history(
    sdk_client, make_namespace, change_context
):
    namespace = make_namespace()
    for value in range(1, 51):
        config_set(namespace=namespace, name=f"k{value % 3}", value=value, context=change_context)
    client = sdk_client(namespace)
    assert client.wait_for_revision(50, timeout=30)
    old_epoch = client.status().epoch

    restore_to_revision(namespace, 20)
    call_command("start_new_epoch")
    namespace.refresh_from_db()
    for value in (1021, 1022):
        config_set(namespace=namespace, name="k0", value=value, context=change_context)

    # Revision 22 is below the 50 the client holds: only the epoch tells it apart.
    assert eventually(lambda: client.status().epoch == database_epoch() and client.revision == 22), client.status()
    assert old_epoch != client.status().epoch
    expected = dict(Configuration.objects.filter(namespace=namespace, is_active=True).values_list("name", "value"))
    assert {name: client.get(name) for name in expected} == expected
    config_set(namespace=namespace, name="k1", value=1023, context=change_context)
    assert client.wait_for_revision(23, timeout=20) and client.get("k1") == 1023

