"""The outbox's own rules: pruning removes old published events only."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.configs.models import OutboxEvent
from apps.configs.services import config_set

pytestmark = pytest.mark.django_db


def test_prune_outbox__old_published_recent_published_and_unpublished__only_the_old_published_go(
    make_namespace, change_context
):
    namespace = make_namespace()
    for value in range(3):
        config_set(namespace=namespace, name="n", value=value, context=change_context)
    old, recent, unpublished = OutboxEvent.objects.filter(namespace=namespace).order_by("revision")
    OutboxEvent.objects.filter(pk=old.pk).update(published_at=timezone.now() - timedelta(days=10))
    OutboxEvent.objects.filter(pk=recent.pk).update(published_at=timezone.now() - timedelta(days=1))
    # An unpublished event older than the cut-off still waits for the relay.
    OutboxEvent.objects.filter(pk=unpublished.pk).update(created_at=timezone.now() - timedelta(days=30))

    call_command("prune_outbox", "--older-than", "7")

    remaining = set(OutboxEvent.objects.filter(namespace=namespace).values_list("revision", flat=True))
    assert remaining == {recent.revision, unpublished.revision}


def test_prune_outbox__negative_days__refused_and_nothing_deleted(make_namespace, change_context):
    namespace = make_namespace()
    config_set(namespace=namespace, name="n", value=1, context=change_context)
    OutboxEvent.objects.filter(namespace=namespace).update(published_at=timezone.now())
    with pytest.raises(CommandError):
        call_command("prune_outbox", "--older-than", "-1")
    assert OutboxEvent.objects.filter(namespace=namespace).count() == 1
