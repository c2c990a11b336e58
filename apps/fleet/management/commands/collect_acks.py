from django.core.management.base import BaseCommand

from apps.fleet.collector import AckCollector
from apps.stop_signals import stop_on_signals


class Command(BaseCommand):
    help = "Store SDK apply reports and drive rollouts (a Kafka consumer group; run one or more)."

    def handle(self, *args, **options):
        AckCollector(stop_on_signals()).run()
