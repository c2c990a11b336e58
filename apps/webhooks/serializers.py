from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.input import StrictInputSerializer
from apps.webhooks.models import NAMESPACE_GLOB_PATTERN, URL_MAX_LENGTH, URL_PATTERN, Webhook, WebhookDelivery
from apps.webhooks.routing import EVENT_PATTERNS
from apps.webhooks.signing import secret_masked

MAX_GLOBS = 50


class MaskedSecretSerializer(serializers.Serializer):
    secret = serializers.BooleanField()
    fingerprint = serializers.CharField(help_text="12 hex digits of an HMAC: tells secrets apart, reveals nothing.")


class WebhookSerializer(serializers.ModelSerializer):
    secret = serializers.SerializerMethodField()

    class Meta:
        model = Webhook
        fields = ["id", "url", "namespaces", "events", "secret", "is_active", "disabled_reason", "created_at",
                  "updated_at"]
        read_only_fields = fields

    @extend_schema_field(MaskedSecretSerializer)
    def get_secret(self, webhook: Webhook) -> dict:
        return secret_masked(webhook.secret)


class WebhookCreatedSerializer(WebhookSerializer):
    signing_secret = serializers.CharField(
        read_only=True, allow_null=True,
        help_text="The secret the platform made when the request gave none, shown this once only; else null.",
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "signing_secret"]
        read_only_fields = fields


class WebhookInputSerializer(StrictInputSerializer):
    url = serializers.RegexField(URL_PATTERN, max_length=URL_MAX_LENGTH, trim_whitespace=False)
    namespaces = serializers.ListField(
        child=serializers.RegexField(NAMESPACE_GLOB_PATTERN, max_length=191, trim_whitespace=False),
        min_length=1, max_length=MAX_GLOBS,
        help_text='Globs of namespaces of the tenant, e.g. "acme/prod/*": any other tenant\'s is refused (403).',
    )
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_PATTERNS), min_length=1)
    secret = serializers.CharField(
        min_length=16, max_length=200, required=False, write_only=True, trim_whitespace=False,
        help_text="The HMAC key of the signatures; made at random when not given.",
    )


class WebhookUpdateSerializer(WebhookInputSerializer):
    is_active = serializers.BooleanField(required=False, help_text="Enable a webhook again after it was disabled.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = ["id", "event_id", "event_type", "namespace", "revision", "status", "attempts", "response_code",
                  "error", "created_at", "last_attempt_at", "next_attempt_at", "delivered_at"]
        read_only_fields = fields
