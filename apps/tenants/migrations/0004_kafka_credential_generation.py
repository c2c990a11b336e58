from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tenants', '0003_ascii_names'),
    ]

    operations = [
        migrations.AddField(
            model_name='servicetoken',
            name='kafka_credential_generation',
            field=models.PositiveIntegerField(default=1, editable=False),
        ),
    ]
