from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_secret_and_schema_actions")]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(choices=[('config.set', 'Config Set'), ('config.delete', 'Config Delete'), ('config.rollback', 'Config Rollback'), ('role.grant', 'Role Grant'), ('role.revoke', 'Role Revoke'), ('token.create', 'Token Create'), ('token.revoke', 'Token Revoke'), ('token.kafka_rotate', 'Token Kafka Rotate'), ('tenant.create', 'Tenant Create'), ('namespace.create', 'Namespace Create'), ('webhook.create', 'Webhook Create'), ('webhook.update', 'Webhook Update'), ('webhook.delete', 'Webhook Delete'), ('changeset.apply', 'Changeset Apply'), ('change_request.open', 'Change Request Open'), ('change_request.approve', 'Change Request Approve'), ('change_request.reject', 'Change Request Reject'), ('change_request.apply', 'Change Request Apply'), ('change_request.withdraw', 'Change Request Withdraw'), ('namespace.protect', 'Namespace Protect'), ('config.schema_set', 'Config Schema Set'), ('config.schema_delete', 'Config Schema Delete'), ('config.reveal', 'Config Reveal'), ('config.export_secrets', 'Config Export Secrets'), ('rollout.start', 'Rollout Start'), ('rollout.stage', 'Rollout Stage'), ('rollout.promote', 'Rollout Promote'), ('rollout.abort', 'Rollout Abort'), ('rollout.rollback', 'Rollout Rollback')], max_length=32),
        ),
    ]
