from django.core.management.base import BaseCommand

from apps.stop_signals import stop_on_signals
from apps.webhooks.worker import WebhookWorker


class Command(BaseCommand):
    help = "Deliver signed webhooks for config changes (a Kafka consumer group; run one or more)."

    def handle(self, *args, **options):
        WebhookWorker(stop_on_signals()).run()
