from django.core.management.base import BaseCommand

from apps.tenants.services import kafka_principals_resync


class Command(BaseCommand):
    help = (
        "Create again, through the relay, every tenant's Kafka topics and every active service token's "
        "principal and ACLs: after the broker lost its metadata (a cluster re-created from scratch)."
    )

    def handle(self, *args, **options):
        queued = kafka_principals_resync()
        self.stdout.write(f"queued {queued} broker tasks; the relay carries them out")
