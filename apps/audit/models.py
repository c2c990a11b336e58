from django.conf import settings
from django.db import models

from apps.tenants.models import Namespace, Tenant


class AuditEvent(models.Model):
    """Append-only record of one change: written by the service call that makes
    the change, in its transaction (apps/audit/services.py), never edited."""

    class Action(models.TextChoices):
        CONFIG_SET = "config.set"
        CONFIG_DELETE = "config.delete"
        CONFIG_ROLLBACK = "config.rollback"
        ROLE_GRANT = "role.grant"
        ROLE_REVOKE = "role.revoke"
        TOKEN_CREATE = "token.create"
        TOKEN_REVOKE = "token.revoke"
        TOKEN_KAFKA_ROTATE = "token.kafka_rotate"
        TENANT_CREATE = "tenant.create"
        NAMESPACE_CREATE = "namespace.create"
        WEBHOOK_CREATE = "webhook.create"
        WEBHOOK_UPDATE = "webhook.update"
        WEBHOOK_DELETE = "webhook.delete"
        CHANGESET_APPLY = "changeset.apply"
        CHANGE_REQUEST_OPEN = "change_request.open"
        CHANGE_REQUEST_APPROVE = "change_request.approve"
        CHANGE_REQUEST_REJECT = "change_request.reject"
        CHANGE_REQUEST_APPLY = "change_request.apply"
        CHANGE_REQUEST_WITHDRAW = "change_request.withdraw"
        NAMESPACE_PROTECT = "namespace.protect"
        CONFIG_SCHEMA_SET = "config.schema_set"
        CONFIG_SCHEMA_DELETE = "config.schema_delete"
        CONFIG_REVEAL = "config.reveal"
        CONFIG_EXPORT_SECRETS = "config.export_secrets"
        ROLLOUT_START = "rollout.start"
        ROLLOUT_STAGE = "rollout.stage"
        ROLLOUT_PROMOTE = "rollout.promote"
        ROLLOUT_ABORT = "rollout.abort"
        ROLLOUT_ROLLBACK = "rollout.rollback"

    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Copied so the record still names the actor after the account is renamed or removed.
    actor_username = models.CharField(max_length=150)
    action = models.CharField(max_length=32, choices=Action.choices)
    tenant = models.ForeignKey(Tenant, null=True, on_delete=models.PROTECT, related_name="+")
    # No index of its own: audit_namespace_time_idx leads with it.
    namespace = models.ForeignKey(Namespace, null=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    # What was changed inside the namespace or tenant: a config name, a username, a token id.
    target = models.CharField(max_length=200, blank=True, default="")
    before = models.JSONField(null=True)
    after = models.JSONField(null=True)
    request_id = models.CharField(max_length=64, blank=True, default="")
    source_ip = models.GenericIPAddressField(null=True)
    # The changeset (apps/changes) this change was part of, if any.
    changeset_id = models.BigIntegerField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["namespace", "-occurred_at"], name="audit_namespace_time_idx")]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action} {self.target}"
