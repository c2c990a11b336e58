from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(choices=[('config.set', 'Config Set'), ('config.delete', 'Config Delete'), ('config.rollback', 'Config Rollback'), ('role.grant', 'Role Grant'), ('role.revoke', 'Role Revoke'), ('token.create', 'Token Create'), ('token.revoke', 'Token Revoke'), ('token.kafka_rotate', 'Token Kafka Rotate'), ('tenant.create', 'Tenant Create'), ('namespace.create', 'Namespace Create')], max_length=32),
        ),
    ]
