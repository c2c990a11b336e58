import django.db.models.deletion
from django.db import migrations, models


def enqueue_existing(apps, schema_editor):
    """Tenants and service tokens made before broker isolation get their topics
    and principals the way new ones do: through the relay."""
    OutboxEvent = apps.get_model("configs", "OutboxEvent")
    Tenant = apps.get_model("tenants", "Tenant")
    ServiceToken = apps.get_model("tenants", "ServiceToken")
    tasks = [{"task": "tenant.topics", "tenant": slug} for slug in Tenant.objects.values_list("slug", flat=True)]
    tasks += [
        {"task": "principal.upsert", "token_id": token_id}
        for token_id in ServiceToken.objects.filter(revoked_at__isnull=True).values_list("pk", flat=True)
    ]
    OutboxEvent.objects.bulk_create(OutboxEvent(kind="broker_task", payload=task) for task in tasks)


class Migration(migrations.Migration):

    dependencies = [
        ('configs', '0002_ascii_names'),
        ('tenants', '0004_kafka_credential_generation'),
    ]

    operations = [
        migrations.AddField(
            model_name='outboxevent',
            name='kind',
            field=models.CharField(choices=[('config_event', 'Config Event'), ('broker_task', 'Broker Task')], default='config_event', max_length=16),
        ),
        migrations.AlterField(
            model_name='outboxevent',
            name='namespace',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenants.namespace'),
        ),
        migrations.AlterField(
            model_name='outboxevent',
            name='revision',
            field=models.BigIntegerField(null=True),
        ),
        migrations.AlterField(
            model_name='outboxevent',
            name='topic',
            field=models.CharField(blank=True, max_length=249),
        ),
        migrations.AlterField(
            model_name='outboxevent',
            name='key',
            field=models.CharField(blank=True, max_length=191),
        ),
        migrations.RunPython(enqueue_existing, migrations.RunPython.noop),
    ]
