from rest_framework import serializers

from apps.audit.models import AuditEvent
from apps.input import RejectEmptyQueryValues


class AuditEventSerializer(serializers.ModelSerializer):
    namespace = serializers.CharField(source="namespace.path", read_only=True, allow_null=True, default=None)
    actor = serializers.CharField(source="actor_username", read_only=True)
    changeset = serializers.IntegerField(source="changeset_id", read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id", "occurred_at", "actor", "action", "namespace", "target",
            "before", "after", "request_id", "source_ip", "changeset",
        ]
        read_only_fields = fields


class AuditFilterSerializer(RejectEmptyQueryValues, serializers.Serializer):
    # Matched as given: trimming would turn a filter of only spaces into "no filter".
    namespace = serializers.CharField(required=False, max_length=191, trim_whitespace=False)
    actor = serializers.CharField(required=False, max_length=150, trim_whitespace=False)
    action = serializers.ChoiceField(choices=AuditEvent.Action.choices, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
