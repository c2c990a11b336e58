"""The client instances that report what they applied, and rollouts
(DESIGN, "Instances and acks", "Rollouts")."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.tenants.models import Namespace


class Instance(models.Model):
    """The latest report of one SDK client of one namespace, upserted by the
    collector (apps/fleet/reports.py); removed after FLEET_FORGET_SECONDS unseen."""

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+")
    instance_id = models.CharField(max_length=100)
    labels = models.JSONField(default=dict)
    revision = models.BigIntegerField()
    epoch = models.CharField(max_length=64, blank=True, default="")
    applied_at = models.DateTimeField(null=True)
    # The changes this instance refuses now: [{revision, name, reason}].
    rejected = models.JSONField(default=list)
    sdk = models.CharField(max_length=40, blank=True, default="")
    # When the client sent its latest report (capped at the time it arrived),
    # so a replayed older report never overwrites a newer one.
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "instance_id"], name="fleet_instance_unique")]


class Apply(models.Model):
    """When an instance first reported a revision applied: what convergence is computed from."""

    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+")
    instance_id = models.CharField(max_length=100)
    revision = models.BigIntegerField()
    applied_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "revision", "instance_id"], name="fleet_apply_unique")
        ]


class Rollout(models.Model):
    """A candidate value of one config, served to a growing cohort of instances."""

    class State(models.TextChoices):
        RUNNING = "running"
        PROMOTED = "promoted"
        ABORTED = "aborted"
        ROLLED_BACK = "rolled_back"

    # A UUID, not a counter: it is part of every instance's cohort hash, and
    # ids must not repeat across installations sharing clients.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    value = models.JSONField()
    # [{percent, labels, bake_seconds}], as given.
    stages = models.JSONField()
    stage = models.PositiveIntegerField(default=0)
    max_rejected = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    comment = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_by_username = models.CharField(max_length=150)
    started_at = models.DateTimeField(auto_now_add=True)
    # The revision that published the current stage, and when.
    stage_revision = models.BigIntegerField(default=0)
    stage_started_at = models.DateTimeField(null=True)
    # The revision that started the rollout: rejections from then on count.
    first_revision = models.BigIntegerField(default=0)
    ended_at = models.DateTimeField(null=True)
    end_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "name"], condition=Q(state="running"), name="fleet_one_running_rollout"
            )
        ]

    @property
    def current_stage(self) -> dict:
        return self.stages[self.stage]

    def client_spec(self) -> dict:
        """What clients evaluate (in the event and the snapshot): they read the
        candidate when their labels match and their cohort bucket is under percent."""
        stage = self.current_stage
        return {"id": str(self.id), "value": self.value, "percent": stage["percent"], "labels": stage.get("labels") or {}}
