"""The database's lineage id ("epoch", DESIGN: Kafka contract and Client SDK).

Revisions only mean something within one history of the database. A restore
from a backup, or a failover to a replica that missed the last commits, makes
the same revision numbers mean other changes; the epoch names the history, so
a client holding revision 50 of one epoch accepts revision 20 of another."""

from __future__ import annotations

import threading
import time
import uuid

from django.db import transaction

from apps.configs.models import DatabaseLineage
from apps.configs.outbox import outbox_restamp_epoch

LINEAGE_ROW = 1
_last_read: tuple[float, str] | None = None
_last_read_lock = threading.Lock()


def database_epoch(*, max_age: float = 0.0) -> str:
    """The current epoch. Writes read it afresh (max_age 0): after a new epoch
    starts, no API replica may go on stamping the old one. Reads may take one
    this process read up to `max_age` seconds ago: a query per snapshot costs
    more than the cached snapshot itself, and a client shown the old epoch for
    that long fetches again when the next event carries the new one."""
    global _last_read
    last = _last_read
    if last is not None and time.monotonic() - last[0] < max_age:
        return last[1]
    # The row is made at migrate; a database emptied since (a flush) gets a new one.
    lineage, _ = DatabaseLineage.objects.get_or_create(pk=LINEAGE_ROW, defaults={"epoch": str(uuid.uuid4())})
    with _last_read_lock:
        _last_read = (time.monotonic(), lineage.epoch)
    return lineage.epoch


def database_epoch_forget() -> None:
    """Read the epoch afresh next time (a new epoch began, or the database was emptied)."""
    global _last_read
    with _last_read_lock:
        _last_read = None


@transaction.atomic
def epoch_start_new() -> str:
    """Give the database a new lineage id; events not yet published carry it too."""
    epoch = str(uuid.uuid4())
    DatabaseLineage.objects.update_or_create(pk=LINEAGE_ROW, defaults={"epoch": epoch})
    outbox_restamp_epoch(epoch)
    transaction.on_commit(database_epoch_forget)
    return epoch
