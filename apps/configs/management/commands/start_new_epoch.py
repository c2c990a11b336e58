from django.core.management.base import BaseCommand

from apps.configs.lineage import epoch_start_new


class Command(BaseCommand):
    help = (
        "Give the database a new lineage id (epoch). Run it after restoring a backup or failing over to a "
        "replica that may have lost commits, before the API and the relay start: clients then re-snapshot "
        "instead of waiting for revisions the database no longer has."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"new epoch {epoch_start_new()}")
