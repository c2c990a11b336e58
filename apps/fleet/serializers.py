"""Input and output shapes of the fleet endpoints (instances, convergence, rollouts)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.configs.serializers import CommentField, ConfigValueField
from apps.input import StrictInputSerializer

MAX_STAGES = 10
MAX_SELECTOR_LABELS = 10
STATUS_CHOICES = ("current", "behind", "stale", "rejected")


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
class LabelsField(serializers.DictField):
    """An instance's labels, as its reports gave them (apps/fleet/reports.py bounds them)."""

    child = serializers.CharField()


LABEL_VALUE_MAX = 100
# Rollout.max_rejected is a PostgreSQL integer.
MAX_REJECTED_MAX = 2**31 - 1


@extend_schema_field({
    "type": "object", "maxProperties": MAX_SELECTOR_LABELS,
    "propertyNames": {"minLength": 1, "maxLength": LABEL_VALUE_MAX},
    "additionalProperties": {"type": "string", "minLength": 1, "maxLength": LABEL_VALUE_MAX},
})
class SelectorLabelsField(serializers.DictField):
    """A stage's label selector: the labels an instance must all have."""

    def __init__(self, **kwargs):
        # Kept as given: a selector " eu1" must not quietly select "eu1".
        super().__init__(child=serializers.CharField(max_length=LABEL_VALUE_MAX, trim_whitespace=False), **kwargs)

    def to_internal_value(self, data):
        # A CharField would take 1 as "1": a label is a string in JSON or refused.
        if isinstance(data, dict) and not all(isinstance(value, str) for value in data.values()):
            raise serializers.ValidationError("Label values must be strings.")
        if isinstance(data, dict) and len(data) > MAX_SELECTOR_LABELS:
            raise serializers.ValidationError(f"At most {MAX_SELECTOR_LABELS} labels.")
        # Keys are held to the values' rules (the child's validators refuse NUL and
        # unpaired surrogates), checked first: a key is never echoed in an error.
        if isinstance(data, dict):
            for key in data:
                try:
                    self.child.run_validation(key)
                except serializers.ValidationError:
                    raise serializers.ValidationError(
                        f"Label keys must be 1 to {LABEL_VALUE_MAX} characters, with no NUL characters or "
                        "unpaired surrogates."
                    ) from None
        return super().to_internal_value(data)


class RolloutStageSerializer(StrictInputSerializer):
    percent = serializers.IntegerField(min_value=1, max_value=100)
    labels = SelectorLabelsField(
        required=False, default=dict, help_text="Only instances with these labels (all of them)."
    )
    bake_seconds = serializers.IntegerField(
        min_value=0, max_value=7 * 24 * 3600, required=False, default=0,
        help_text="At least this long at the stage before it may advance.",
    )


class RolloutAutoRollbackSerializer(StrictInputSerializer):
    max_rejected = serializers.IntegerField(
        min_value=0, max_value=MAX_REJECTED_MAX, required=False, default=0,
        help_text="Roll back once more instances than this reject the candidate.",
    )


class RolloutCreateSerializer(StrictInputSerializer):
    value = ConfigValueField(help_text="The candidate value.")
    stages = serializers.ListField(child=RolloutStageSerializer(), min_length=1, max_length=MAX_STAGES)
    auto_rollback = RolloutAutoRollbackSerializer(required=False)
    comment = CommentField()


class RolloutCohortSerializer(serializers.Serializer):
    members = serializers.IntegerField(help_text="Live instances in the current stage's cohort.")
    acked = serializers.IntegerField(help_text="Of those, how many applied the stage's revision with no rejection.")
    rejections = serializers.ListField(
        child=serializers.DictField(), help_text="[{instance_id, reason}] of live instances rejecting the candidate."
    )


class RolloutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    namespace = serializers.CharField(source="namespace.path")
    name = serializers.CharField()
    value = serializers.JSONField(help_text="The candidate value.")
    stages = serializers.JSONField()
    stage = serializers.IntegerField(help_text="Index of the current (or last) stage in `stages`.")
    state = serializers.ChoiceField(choices=["running", "promoted", "aborted", "rolled_back"])
    max_rejected = serializers.IntegerField()
    comment = serializers.CharField()
    created_by = serializers.CharField(source="created_by_username")
    started_at = serializers.DateTimeField()
    stage_revision = serializers.IntegerField(help_text="The namespace revision that published the stage.")
    stage_started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    end_reason = serializers.CharField(help_text="Why it ended; empty while running.")
    cohort = RolloutCohortSerializer(help_text="Empty once the rollout has ended.")


class InstanceSerializer(serializers.Serializer):
    instance_id = serializers.CharField()
    labels = LabelsField()
    revision = serializers.IntegerField(help_text="The namespace revision the instance applied.")
    epoch = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    applied_at = serializers.DateTimeField(allow_null=True)
    last_seen = serializers.DateTimeField()
    rejected = serializers.ListField(child=serializers.DictField(), help_text="[{revision, name, reason}]")
    sdk = serializers.CharField()


class InstanceSummarySerializer(serializers.Serializer):
    current = serializers.IntegerField()
    behind = serializers.IntegerField()
    stale = serializers.IntegerField()
    rejected = serializers.IntegerField()


class NamespaceInstancesSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    revision = serializers.IntegerField()
    summary = InstanceSummarySerializer()
    instances = InstanceSerializer(many=True)


# One `label` query parameter: key=value, checked with the pattern the schema
# publishes as Python reads it. JSON Schema reads it as ECMA does, whose `.`
# takes no \r, U+2028 or U+2029 and whose `$` no final newline: Python's reading
# takes more, so a filter built from the schema under either reading is taken
# (a value with such a character matches no label and filters everything out).
LABEL_FILTER_PATTERN = r"^[^=]{1,100}=.{0,100}$"


class InstancesQuerySerializer(serializers.Serializer):
    label = serializers.ListField(
        # Kept as sent: a key or value may start or end with whitespace, and a
        # stripped one would filter on another label (or leave no key at all).
        child=serializers.RegexField(LABEL_FILTER_PATTERN, trim_whitespace=False), required=False, default=list,
        help_text="key=value; repeat for several (all must match).",
    )

    def labels(self) -> dict[str, str]:
        """The validated filter as {key: value}."""
        return dict(item.split("=", 1) for item in self.validated_data["label"])


class ConvergenceTimeSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    seconds = serializers.FloatField(help_text="After the commit.")


class ConvergenceSerializer(serializers.Serializer):
    revision = serializers.IntegerField()
    committed_at = serializers.DateTimeField()
    instances = serializers.IntegerField(help_text="Instances live since the commit.")
    applied = serializers.IntegerField(help_text="Of those, how many applied it (or a later revision).")
    times = serializers.DictField(
        child=ConvergenceTimeSerializer(allow_null=True),
        help_text="p50, p90, p99, p100: when that share of the instances had applied it; null if not yet.",
    )
