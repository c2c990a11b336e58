from django.core.management.base import BaseCommand

from apps.configs.relay import OutboxRelay
from apps.stop_signals import stop_on_signals


class Command(BaseCommand):
    help = "Publish committed outbox events to Kafka (one active relay; others wait as standbys)."

    def handle(self, *args, **options):
        OutboxRelay(stop_on_signals()).run()
