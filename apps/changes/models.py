"""Changesets (several changes over several namespaces, applied in one
transaction) and change requests (a changeset proposed, reviewed and applied
once approved)."""

from django.conf import settings
from django.db import models

from apps.configs.models import COMMENT_MAX_LENGTH
from apps.tenants.models import Namespace


class Changeset(models.Model):
    """One applied changeset: every change in it is a normal config version,
    and every touched namespace rose by exactly one revision."""

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_username = models.CharField(max_length=150)
    comment = models.CharField(max_length=COMMENT_MAX_LENGTH, blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")
    namespaces = models.ManyToManyField(Namespace, related_name="+")
    # What it wrote: [{namespace, name, op, version, revision}], in the order given.
    changes = models.JSONField(default=list)
    # {namespace path: the revision this changeset gave it}
    revisions = models.JSONField(default=dict)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"changeset {self.pk}"


class ChangeRequest(models.Model):
    class State(models.TextChoices):
        OPEN = "open"
        APPROVED = "approved"
        REJECTED = "rejected"
        APPLIED = "applied"
        WITHDRAWN = "withdrawn"

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    author_username = models.CharField(max_length=150)
    comment = models.CharField(max_length=COMMENT_MAX_LENGTH, blank=True, default="")
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN, db_index=True)
    namespaces = models.ManyToManyField(Namespace, related_name="+")
    # The proposed changes, each with the version it was based on (0: none),
    # so that applying it can tell that the config changed meanwhile:
    # [{namespace, name, op, value, base_version}]
    changes = models.JSONField(default=list)
    changeset = models.OneToOneField(Changeset, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"change request {self.pk} ({self.state})"


class Review(models.Model):
    """One reviewer's approval or rejection of a change request."""

    class Verdict(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"

    change_request = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    reviewer_username = models.CharField(max_length=150)
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    comment = models.CharField(max_length=COMMENT_MAX_LENGTH, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["change_request", "reviewer"], name="one_review_per_reviewer"),
        ]
