from rest_framework import serializers


class RejectUnknownFields:
    """Input that names a field the endpoint does not take is refused, so that a
    body naming, say, another namespace is never silently half-applied."""

    def validate(self, attrs):
        unknown = set(getattr(self, "initial_data", {}) or {}) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
        return super().validate(attrs)


class RejectEmptyQueryValues:
    """An empty query filter (`?state=`) is a mistake in the caller's query,
    not "no filter": refused naming it."""

    def validate(self, attrs):
        empty = [name for name in self.fields if self.initial_data.get(name) == ""]
        if empty:
            raise serializers.ValidationError({name: ["May not be empty."] for name in empty})
        return super().validate(attrs)


def _is_integer(value) -> bool:
    # JSON Schema counts 2.0 as an integer; a boolean is never a number in JSON.
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and value.is_integer()
    )


def _expected_json_type(field: serializers.Field):
    """The JSON type the schema states for a field, as (name, test of a parsed
    value); None for a field that takes any JSON (a config value)."""
    if isinstance(field, serializers.BooleanField):
        return "a boolean", lambda value: isinstance(value, bool)
    if isinstance(field, serializers.IntegerField):
        return "an integer", _is_integer
    if isinstance(field, (serializers.FloatField, serializers.DecimalField)):
        return "a number", lambda value: isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(field, (serializers.CharField, serializers.ChoiceField)):
        return "a string", lambda value: isinstance(value, str)
    if isinstance(field, (serializers.DictField, serializers.Serializer)):
        return "an object", lambda value: isinstance(value, dict)
    if isinstance(field, serializers.ListField):
        return "an array", lambda value: isinstance(value, list)
    return None


class ExactJSONTypes:
    """DRF's fields coerce: 0 becomes the name "0", "on" and 0 become booleans,
    "2" an integer. A body field must arrive as the JSON type its schema states,
    or the request is refused naming the field, before any coercion happens."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {}
            for name, field in self.fields.items():
                if field.read_only or name not in data:
                    continue
                value, expected = data[name], _expected_json_type(field)
                # Null is the field's own rule (allow_null), checked by DRF.
                if expected is None or value is None:
                    continue
                label, matches = expected
                if not matches(value):
                    errors[name] = [f"Expected {label}."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class StrictInputSerializer(RejectUnknownFields, ExactJSONTypes, serializers.Serializer):
    pass
