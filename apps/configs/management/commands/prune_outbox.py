from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from apps.configs.outbox import outbox_prune


class Command(BaseCommand):
    help = "Delete outbox events published more than --older-than days ago; unpublished events are never deleted."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=float, required=True, metavar="DAYS")

    def handle(self, *args, older_than: float, **options):
        if older_than < 0:
            raise CommandError("--older-than must be zero or more days")
        deleted = outbox_prune(older_than=timedelta(days=older_than))
        self.stdout.write(f"deleted {deleted} published outbox events")
