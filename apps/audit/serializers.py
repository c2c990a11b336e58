from rest_framework import serializers

from apps.audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer):
    namespace = serializers.CharField(source="namespace.path", read_only=True, allow_null=True, default=None)
    actor = serializers.CharField(source="actor_username", read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id", "occurred_at", "actor", "action", "namespace", "target",
            "before", "after", "request_id", "source_ip",
        ]
        read_only_fields = fields


class AuditFilterSerializer(serializers.Serializer):
    # Matched as given: trimming would turn a filter of only spaces into "no filter".
    namespace = serializers.CharField(required=False, max_length=191, trim_whitespace=False)
    actor = serializers.CharField(required=False, max_length=150, trim_whitespace=False)
    action = serializers.ChoiceField(choices=AuditEvent.Action.choices, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)

    def validate(self, attrs):
        # An empty filter is a mistake in the caller's query, not "no filter".
        empty = [name for name in self.fields if self.initial_data.get(name) == ""]
        if empty:
            raise serializers.ValidationError({name: ["May not be empty."] for name in empty})
        return attrs
