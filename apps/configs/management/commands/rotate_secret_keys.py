from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.changes.change_requests import change_requests_reencrypt
from apps.configs.models import Configuration
from apps.configs.secrets import newest_key_id, secret_reencrypt


def rotate_batch(batch_size: int) -> int:
    """Re-encrypt up to batch_size secret versions and up to batch_size change
    requests with proposed secrets (the other rows holding one) not under the
    newest key; how many were."""
    return _versions_batch(batch_size) + change_requests_reencrypt(batch_size=batch_size)


def _versions_batch(batch_size: int) -> int:
    newest = newest_key_id()
    with transaction.atomic():
        # SKIP LOCKED: two runs at once share the work instead of waiting on each other.
        rows = list(
            Configuration.objects.select_for_update(skip_locked=True)
            .filter(is_secret=True, value__isnull=False)
            .exclude(value__key=newest)
            .order_by("pk")
            .only("pk", "namespace_id", "name", "value")[:batch_size]
        )
        for row in rows:
            # The one change to a stored version besides is_active: the same value under another key.
            Configuration.objects.filter(pk=row.pk).update(
                value=secret_reencrypt(row.value, namespace_id=row.namespace_id, name=row.name)
            )
    return len(rows)


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret version, and every secret proposed in a change request, under the "
        "newest key of NOREBOOT_SECRET_KEYS, in batches. "
        "Resumable and idempotent: versions already under the newest key are skipped. Remove an old key "
        "from the ring only after a run that ends with nothing left."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        total = 0
        while rotated := rotate_batch(batch_size):
            total += rotated
            self.stdout.write(f"re-encrypted {total} secret versions and change requests so far")
        self.stdout.write(f"done: {total} secret versions and change requests re-encrypted under key {newest_key_id()}")
