import json

from django.db import migrations, models


def count_live_value_bytes(apps, schema_editor):
    Namespace = apps.get_model("tenants", "Namespace")
    Configuration = apps.get_model("configs", "Configuration")
    for namespace in Namespace.objects.all():
        values = Configuration.objects.filter(namespace=namespace, is_active=True).values_list("value", flat=True)
        # The measure of apps/configs/values.py: compact JSON.
        total = sum(len(json.dumps(value, separators=(",", ":"))) for value in values.iterator())
        Namespace.objects.filter(pk=namespace.pk).update(value_bytes=total)


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0004_kafka_credential_generation"),
        ("configs", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="namespace",
            name="value_bytes",
            field=models.BigIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(count_live_value_bytes, migrations.RunPython.noop),
    ]
