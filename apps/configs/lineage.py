"""The database's lineage id ("epoch", DESIGN: Kafka contract and Client SDK).

Revisions only mean something within one history of the database. A restore
from a backup, or a failover to a replica that missed the last commits, makes
the same revision numbers mean other changes; the epoch names the history, so
a client holding revision 50 of one epoch accepts revision 20 of another."""

from __future__ import annotations

import uuid

from django.db import transaction

from apps.configs.models import DatabaseLineage
from apps.configs.outbox import outbox_restamp_epoch

LINEAGE_ROW = 1


def database_epoch() -> str:
    # Read on every write and snapshot, not cached per process: after a new
    # epoch starts, no API replica may go on stamping the old one. The row is
    # made at migrate; a database emptied since (a flush) gets a new one.
    lineage, _ = DatabaseLineage.objects.get_or_create(pk=LINEAGE_ROW, defaults={"epoch": str(uuid.uuid4())})
    return lineage.epoch


@transaction.atomic
def epoch_start_new() -> str:
    """Give the database a new lineage id; events not yet published carry it too."""
    epoch = str(uuid.uuid4())
    DatabaseLineage.objects.update_or_create(pk=LINEAGE_ROW, defaults={"epoch": epoch})
    outbox_restamp_epoch(epoch)
    return epoch
