from rest_framework import serializers

from apps.configs.serializers import ConfigNameField
from apps.input import ExactJSONTypes, RejectUnknownFields, StrictInputSerializer
from apps.tenants.models import Namespace, ServiceToken, Tenant, slug_validator
from apps.tenants.roles import Role


class SlugField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=63, validators=[slug_validator], trim_whitespace=False, **kwargs)


class TenantSerializer(RejectUnknownFields, ExactJSONTypes, serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["slug", "name", "created_at"]
        read_only_fields = ["created_at"]
        extra_kwargs = {"slug": {"validators": [slug_validator], "trim_whitespace": False}}


class NamespaceCreateSerializer(StrictInputSerializer):
    environment = SlugField()
    service = SlugField()
    is_production = serializers.BooleanField(required=False, allow_null=True, default=None)


class NamespaceSerializer(serializers.ModelSerializer):
    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    environment = serializers.CharField(source="environment.slug", read_only=True)
    service = serializers.CharField(source="service.slug", read_only=True)
    namespace = serializers.CharField(source="path", read_only=True)
    is_production = serializers.BooleanField(source="environment.is_production", read_only=True)

    class Meta:
        model = Namespace
        fields = ["namespace", "tenant", "environment", "service", "revision", "is_production", "created_at"]
        read_only_fields = fields


class RoleGrantSerializer(StrictInputSerializer):
    role = serializers.ChoiceField(choices=[role.label for role in Role])


class RoleGrantResultSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.CharField()
    scope = serializers.CharField(help_text="The tenant slug or namespace path the role applies to.")


class ServiceTokenCreateSerializer(StrictInputSerializer):
    # Token names follow the config-name rule: short, ASCII, safe in URLs and logs.
    name = ConfigNameField()


class ServiceTokenSerializer(serializers.ModelSerializer):
    namespace = serializers.CharField(source="namespace.path", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = ServiceToken
        fields = ["id", "name", "prefix", "namespace", "created_by", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class ServiceTokenSecretSerializer(ServiceTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret; shown this once only.")

    class Meta(ServiceTokenSerializer.Meta):
        fields = ServiceTokenSerializer.Meta.fields + ["token"]
        read_only_fields = fields


class KafkaCredentialsRequestSerializer(StrictInputSerializer):
    rotate = serializers.BooleanField(
        required=False, default=False,
        help_text="Replace the password: the old one stops working, for every instance using this token.",
    )


class KafkaCredentialsSerializer(serializers.Serializer):
    bootstrap_servers = serializers.CharField()
    security_protocol = serializers.CharField()
    sasl_mechanism = serializers.CharField()
    username = serializers.CharField(help_text="The token's own Kafka principal.")
    password = serializers.CharField()
    topic = serializers.CharField(help_text="The one topic this principal may read.")
    partitions = serializers.IntegerField()
    ca_pem = serializers.CharField(help_text="The CA certificate that signed the brokers' certificates (PEM).")
    ack_topic = serializers.CharField(help_text="The one topic this principal may write: its SDK's apply reports.")
