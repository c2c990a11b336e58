import signal
import threading

from django.core.management.base import BaseCommand

from apps.configs.relay import OutboxRelay


class Command(BaseCommand):
    help = "Publish committed outbox events to Kafka (one active relay; others wait as standbys)."

    def handle(self, *args, **options):
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        OutboxRelay(stop).run()
