from drf_spectacular.utils import OpenApiParameter, extend_schema_field, inline_serializer
from rest_framework import serializers

from apps.configs.models import (
    COMMENT_MAX_LENGTH,
    CONFIG_NAME_MAX_LENGTH,
    Configuration,
    config_name_validator,
)
from apps.configs.secrets import value_shown
from apps.input import StrictInputSerializer

# JSON Schema patterns are ECMA regexes: `$`, not `\\Z`.
CONFIG_NAME_PATTERN = config_name_validator.regex.pattern.replace("\\Z", "$")
CONFIG_NAME_PARAMETER = OpenApiParameter(
    "name", {"type": "string", "pattern": CONFIG_NAME_PATTERN, "maxLength": CONFIG_NAME_MAX_LENGTH},
    OpenApiParameter.PATH, description="The config's name.",
)


class ConfigNameField(serializers.CharField):
    def __init__(self, **kwargs):
        # No silent trimming: a name with stray whitespace is refused, not changed.
        super().__init__(
            max_length=CONFIG_NAME_MAX_LENGTH, validators=[config_name_validator], trim_whitespace=False, **kwargs
        )


class CommentField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=COMMENT_MAX_LENGTH, required=False, allow_blank=True, default="", **kwargs)


class ConfigValueField(serializers.JSONField):
    schema = {
        "description": "Any JSON value but null.",
        "anyOf": [
            {"type": "object", "additionalProperties": True},
            {"type": "array", "items": {}},
            {"type": "string"},
            {"type": "number"},
            {"type": "boolean"},
        ],
    }


extend_schema_field(ConfigValueField.schema)(ConfigValueField)


@extend_schema_field(
    {
        "type": "object",
        "description": "Config names mapped to their values.",
        "propertyNames": {
            "maxLength": CONFIG_NAME_MAX_LENGTH,
            "pattern": CONFIG_NAME_PATTERN,
        },
        "additionalProperties": ConfigValueField.schema,
    }
)
class ConfigMapField(serializers.DictField):
    pass


class ConfigNameSerializer(serializers.Serializer):
    """Checks a name that arrives in the URL, so that a bad one is a 400 naming the field."""

    name = ConfigNameField()


SECRET_MASK_SCHEMA = {
    "type": "object",
    "description": "A secret's value as shown: never the plain text.",
    "properties": {
        "secret": {"const": True},
        "fingerprint": {"type": "string", "description": "12 hex of an HMAC: equal values, equal fingerprints."},
    },
    "required": ["secret", "fingerprint"],
}


class MaskedValueSerializerMixin:
    """Shows a secret version's value masked: its envelope never leaves the server."""

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["value"] = value_shown(instance.value, instance.is_secret)
        return data


class SpecConfigSerializer(MaskedValueSerializerMixin, serializers.ModelSerializer):
    """The seed spec's shape of one config."""

    class Meta:
        model = Configuration
        fields = ["id", "name", "value", "is_active", "created_at"]
        read_only_fields = fields


class SpecConfigUpdateSerializer(StrictInputSerializer):
    name = ConfigNameField()
    value = ConfigValueField()


class ConfigWriteSerializer(StrictInputSerializer):
    value = ConfigValueField()
    comment = CommentField()
    secret = serializers.BooleanField(
        required=False,
        help_text="Creating the config: whether it holds a secret (encrypted at rest, shown masked, never on Kafka). "
        "A live config keeps what it is.",
    )
    expected_version = serializers.IntegerField(
        min_value=0, required=False, help_text="Write only if the config is still at this version (like If-Match)."
    )


class ConfigDeleteSerializer(StrictInputSerializer):
    comment = CommentField()
    expected_version = serializers.IntegerField(min_value=0, required=False)


class ConfigRollbackSerializer(StrictInputSerializer):
    to_version = serializers.IntegerField(min_value=1)
    comment = CommentField()
    expected_version = serializers.IntegerField(min_value=0, required=False)


# One field instance for every answer: a datetime's form depends on the settings, not on the serializer.
CREATED_AT_FIELD = serializers.DateTimeField()


class ConfigVersionSerializer(serializers.ModelSerializer):
    """Shows a secret version's value masked: its envelope never leaves the server."""

    namespace = serializers.CharField(source="namespace.path", read_only=True)
    deleted = serializers.BooleanField(source="is_tombstone", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True, default=None)
    secret = serializers.BooleanField(
        source="is_secret", read_only=True, help_text="A secret's value is shown masked unless revealed."
    )
    schema_version = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The version of the config's JSON Schema the value was checked against."
    )
    fingerprint = serializers.SerializerMethodField(
        help_text="A secret's fingerprint (also when revealed); null for other configs."
    )

    class Meta:
        model = Configuration
        fields = [
            "namespace", "name", "value", "version", "revision", "is_active", "deleted",
            "created_at", "created_by", "comment", "secret", "schema_version", "fingerprint",
        ]
        read_only_fields = fields

    def get_fingerprint(self, config: Configuration) -> str | None:
        return fingerprint_of(config)

    def to_representation(self, config: Configuration) -> dict:
        return version_body(config)


def version_body(config: Configuration) -> dict:
    """What ConfigVersionSerializer's declared fields give (they still describe
    it in the schema), written out: every write answers with it, and building
    a ModelSerializer's fields for each instance cost more CPU than the rest
    of the request outside the write. tests/test_config_version_body.py holds
    the two equal."""
    created_by = config.created_by
    return {
        "namespace": config.namespace.path,
        "name": config.name,
        "value": value_shown(config.value, config.is_secret),
        "version": config.version,
        "revision": config.revision,
        "is_active": config.is_active,
        "deleted": config.is_tombstone,
        "created_at": CREATED_AT_FIELD.to_representation(config.created_at),
        "created_by": None if created_by is None else created_by.username,
        "comment": config.comment,
        "secret": config.is_secret,
        "schema_version": config.schema_version,
        "fingerprint": fingerprint_of(config),
    }


def fingerprint_of(config: Configuration) -> str | None:
    return config.value["fingerprint"] if config.is_secret and config.value is not None else None


class SnapshotConfigSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.JSONField(help_text="A secret's is masked: clients reveal it with `?reveal=true`.")
    version = serializers.IntegerField()
    updated_at = serializers.DateTimeField()
    secret = serializers.BooleanField()
    schema_version = serializers.IntegerField(
        allow_null=True, help_text="The version of the config's JSON Schema the value was checked against."
    )


class ConfigReadQuerySerializer(serializers.Serializer):
    reveal = serializers.BooleanField(
        required=False, default=False,
        help_text="A secret's plain value, for namespace admins and the namespace's service tokens (audited); "
        "others get the masked form.",
    )


class ConfigExportQuerySerializer(serializers.Serializer):
    include_secrets = serializers.BooleanField(
        required=False, default=False,
        help_text="Namespace admins only (audited): secrets in the clear. Without it, secrets are left out.",
    )


@extend_schema_field({"type": "object", "additionalProperties": True,
                      "description": "A JSON Schema (Draft 2020-12) as an object; only local `$ref`s."})
class JsonSchemaField(serializers.JSONField):
    """Any JSON on the way in: a schema that is not an object gets the schema
    check's own message (apps/configs/schemas.py), like every other bad schema."""


class ConfigSchemaWriteSerializer(StrictInputSerializer):
    schema = JsonSchemaField()


class ConfigSchemaSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    name = serializers.CharField()
    schema = serializers.DictField(help_text="The JSON Schema (Draft 2020-12) every new value must pass.")
    schema_version = serializers.IntegerField()


class SnapshotRolloutSerializer(serializers.Serializer):
    """A running rollout as clients evaluate it (apps/fleet; the event of op "rollout" carries the same)."""

    name = serializers.CharField()
    id = serializers.UUIDField()
    value = serializers.JSONField(help_text="The candidate value.")
    percent = serializers.IntegerField(
        help_text="An instance reads the candidate when int(first 8 hex of SHA-256('<id>:<instance_id>'), 16) % 100 "
        "is below this..."
    )
    labels = serializers.DictField(child=serializers.CharField(), help_text="... and it has all of these labels.")


class NamespaceSnapshotSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    revision = serializers.IntegerField()
    epoch = serializers.CharField(
        help_text="The database lineage id: revisions of another epoch belong to another history (after a restore)."
    )
    topic = serializers.CharField(help_text="The Kafka topic that carries this namespace's updates.")
    partitions = serializers.IntegerField(help_text="The topic's partition count (murmur2 of the key picks one).")
    digest = serializers.CharField(
        help_text="SHA-256 (hex) of {name: value} as canonical JSON: sorted keys, no spaces, UTF-8."
    )
    configs = SnapshotConfigSerializer(many=True)
    rollouts = SnapshotRolloutSerializer(
        many=True, help_text="Running rollouts: clients in a rollout's cohort read its candidate instead."
    )


class ConfigDiffQuerySerializer(serializers.Serializer):
    # `from` is a Python keyword, so the fields are declared here rather than as attributes.
    def get_fields(self):
        return {"from": serializers.IntegerField(min_value=1), "to": serializers.IntegerField(min_value=1)}

ConfigDiffSerializer = inline_serializer(
    name="ConfigDiff",
    fields={
        "from": serializers.IntegerField(),
        "to": serializers.IntegerField(),
        "patch": serializers.ListField(
            child=serializers.DictField(),
            help_text="RFC 6902 JSON Patch; of a secret's masked forms (a new fingerprint when its value changed).",
        ),
    },
)


class ConfigImportSerializer(StrictInputSerializer):
    configs = ConfigMapField(child=ConfigValueField(), allow_empty=True)
    comment = CommentField()
    dry_run = serializers.BooleanField(required=False, default=False)
    # An export's body is accepted as it is. Importing into another namespace
    # (dev into prod) is what an export is for, so its namespace and revision
    # are taken for information and not compared with the target's.
    namespace = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="Ignored: the namespace an export came from."
    )
    revision = serializers.IntegerField(required=False, help_text="Ignored: the revision an export was taken at.")


class ImportChangeSerializer(serializers.Serializer):
    name = serializers.CharField()
    op = serializers.ChoiceField(choices=["create", "update", "unchanged"])
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)


class ConfigImportResultSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    dry_run = serializers.BooleanField()
    revision = serializers.IntegerField()
    changes = ImportChangeSerializer(many=True)


class ConfigExportSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    revision = serializers.IntegerField()
    configs = serializers.DictField(child=serializers.JSONField())
