from rest_framework import serializers


class RejectUnknownFields:
    """Input that names a field the endpoint does not take is refused, so that a
    body naming, say, another namespace is never silently half-applied."""

    def validate(self, attrs):
        unknown = set(getattr(self, "initial_data", {}) or {}) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
        return super().validate(attrs)


class StrictInputSerializer(RejectUnknownFields, serializers.Serializer):
    pass


class StrictCharField(serializers.CharField):
    """A string that must arrive as a string: 0 is not silently the name "0"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
