import signal
import threading

from django.core.management.base import BaseCommand

from apps.webhooks.worker import WebhookWorker


class Command(BaseCommand):
    help = "Deliver signed webhooks for config changes (a Kafka consumer group; run one or more)."

    def handle(self, *args, **options):
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        WebhookWorker(stop).run()
