from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from apps.tenants.models import Namespace

CONFIG_NAME_MAX_LENGTH = 100
# ASCII only, so look-alike letters cannot make two names that read the same;
# a leading letter or digit rules out "." and "..".
config_name_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z", "Use ASCII letters, digits, '.', '_' or '-', starting with a letter or digit."
)
COMMENT_MAX_LENGTH = 500


def config_name_errors(name: str) -> list[str]:
    """Why a config name is refused (nothing if it is fine): the rule of the
    model field, for places that check names outside a form or serializer."""
    errors = []
    try:
        config_name_validator(name)
    except ValidationError as exc:
        errors.extend(exc.messages)
    if len(name) > CONFIG_NAME_MAX_LENGTH:
        errors.append(f"Names are at most {CONFIG_NAME_MAX_LENGTH} characters.")
    return errors


class Configuration(models.Model):
    """One version of one named value. Versions are never updated but for
    `is_active`, never deleted; a delete is a tombstone version."""

    # No index of its own: configuration_unique_version leads with it. Every
    # index is written by every version (and again by its deactivation).
    namespace = models.ForeignKey(
        Namespace, on_delete=models.PROTECT, related_name="configurations", db_index=False
    )
    name = models.CharField(max_length=CONFIG_NAME_MAX_LENGTH, validators=[config_name_validator])
    # A secret's value is its encrypted envelope (apps/configs/secrets.py), never the plain text.
    value = models.JSONField(null=True)
    is_secret = models.BooleanField(default=False)
    # The version of the config's JSON Schema the value was checked against (None: it had none).
    schema_version = models.PositiveIntegerField(null=True, blank=True)
    version = models.PositiveIntegerField()
    is_active = models.BooleanField(default=True)
    is_tombstone = models.BooleanField(default=False)
    # The namespace revision this version was written at.
    revision = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.CharField(max_length=COMMENT_MAX_LENGTH, blank=True, default="")

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "name"],
                condition=models.Q(is_active=True),
                name="configuration_one_active_per_name",
            ),
            models.UniqueConstraint(
                fields=["namespace", "name", "version"], name="configuration_unique_version"
            ),
            models.CheckConstraint(
                condition=~(models.Q(is_active=True) & models.Q(is_tombstone=True)),
                name="configuration_tombstone_never_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.namespace.path}:{self.name}@{self.version}"


class ConfigDefinition(models.Model):
    """What a config name is, apart from its values: whether it holds a secret,
    and its current JSON Schema. One row per name, made by the first write or
    schema; it outlives deletions, so a name keeps its schema and secrecy."""

    namespace = models.ForeignKey(Namespace, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=CONFIG_NAME_MAX_LENGTH, validators=[config_name_validator])
    secret = models.BooleanField(default=False)
    schema = models.JSONField(null=True, blank=True)
    # Counts every schema change, removals included; 0 until the first schema.
    schema_version = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="config_definition_unique_name")]

    def __str__(self) -> str:
        return f"{self.namespace_id}:{self.name}"


class ConfigSchemaVersion(models.Model):
    """One version of a config's JSON Schema (None: the schema was removed). Never changed."""

    definition = models.ForeignKey(ConfigDefinition, on_delete=models.PROTECT, related_name="schema_versions")
    version = models.PositiveIntegerField()
    schema = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["definition", "version"], name="config_schema_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.definition}@schema{self.version}"


class OutboxEvent(models.Model):
    """Work for the relay, written in the transaction of the change that needs
    it (apps/configs/outbox.py is the only writer): a config event to publish,
    or a broker task (a topic to create, a principal to create or delete),
    carried out in the same order."""

    class Kind(models.TextChoices):
        CONFIG_EVENT = "config_event"
        BROKER_TASK = "broker_task"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CONFIG_EVENT)
    # Config events only: broker tasks belong to no namespace revision. No index
    # of its own: outbox_one_event_per_revision leads with it.
    namespace = models.ForeignKey(Namespace, null=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    revision = models.BigIntegerField(null=True)
    topic = models.CharField(max_length=249, blank=True)
    key = models.CharField(max_length=191, blank=True)
    # Never a secret: a broker task names a principal, and the relay derives its password.
    payload = models.JSONField()
    request_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "revision"], name="outbox_one_event_per_revision")
        ]
        indexes = [
            models.Index(
                fields=["id"], condition=models.Q(published_at__isnull=True), name="outbox_unpublished_idx"
            )
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.BROKER_TASK:
            return f"{self.payload.get('task')} #{self.pk}"
        return f"{self.key}@{self.revision}"


class DatabaseLineage(models.Model):
    """One row: the lineage id ("epoch") of this database's revisions.

    Made at migrate and replaced after a restore or a failover that lost
    commits (`manage.py start_new_epoch`): revisions then count again from
    lower numbers, and the epoch tells clients that they belong to another
    history, so they re-snapshot instead of waiting for revisions they hold."""

    epoch = models.CharField(max_length=36)
    started_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.epoch
