import uuid

from django.db import migrations, models


def first_epoch(apps, schema_editor):
    apps.get_model("configs", "DatabaseLineage").objects.create(pk=1, epoch=str(uuid.uuid4()))


class Migration(migrations.Migration):
    dependencies = [("configs", "0003_outbox_broker_tasks")]

    operations = [
        migrations.CreateModel(
            name="DatabaseLineage",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("epoch", models.CharField(max_length=36)),
                ("started_at", models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.RunPython(first_epoch, migrations.RunPython.noop),
    ]
