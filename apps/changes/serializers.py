from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from apps.changes.change_requests import approvals_needed
from apps.changes.models import ChangeRequest, Changeset, Review
from apps.changes.selectors import proposed_changes_shown
from apps.changes.services import CHANGES_MAX, ChangeInput
from apps.configs.serializers import CommentField, ConfigNameField, ConfigValueField
from apps.input import RejectEmptyQueryValues, StrictInputSerializer
from apps.tenants.models import SLUG_PATTERN

_SEGMENT = SLUG_PATTERN.removeprefix("^").removesuffix("\\Z")
NAMESPACE_PATH_PATTERN = f"^{_SEGMENT}/{_SEGMENT}/{_SEGMENT}$"


class NamespacePathField(serializers.RegexField):
    def __init__(self, **kwargs):
        super().__init__(NAMESPACE_PATH_PATTERN, max_length=191, help_text="tenant/environment/service", **kwargs)


class ChangeDeleteItemSerializer(StrictInputSerializer):
    namespace = NamespacePathField()
    name = ConfigNameField()
    op = serializers.ChoiceField(choices=["delete"])
    expected_version = serializers.IntegerField(
        min_value=0, required=False, help_text="Write only if the config is still at this version (0: absent)."
    )


class ChangeSetItemSerializer(ChangeDeleteItemSerializer):
    op = serializers.ChoiceField(choices=["set"])
    value = ConfigValueField()
    secret = serializers.BooleanField(required=False, help_text="Create the config as a secret (only when new).")


CHANGE_ITEM_SERIALIZERS = {"set": ChangeSetItemSerializer, "delete": ChangeDeleteItemSerializer}


@extend_schema_field(PolymorphicProxySerializer(
    component_name="ConfigChange", serializers=CHANGE_ITEM_SERIALIZERS, resource_type_field_name="op", many=True,
))
class ChangeListField(serializers.ListField):
    """The changes, parsed one by one in the serializer so that an error names
    its change: `changes[3].value`."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.DictField(), min_length=1, max_length=CHANGES_MAX, **kwargs)


def _change_errors(item: dict) -> tuple[ChangeInput | None, dict]:
    """One change parsed by the serializer of its op: (the change, None) or (None, its errors)."""
    parser = CHANGE_ITEM_SERIALIZERS.get(item.get("op")) if isinstance(item.get("op"), str) else None
    if parser is None:
        return None, {"op": ['Expected "set" or "delete".']}
    change = parser(data=item)
    if not change.is_valid():
        return None, change.errors
    return ChangeInput(**change.validated_data), {}


class ChangesetCreateSerializer(StrictInputSerializer):
    changes = ChangeListField()
    comment = CommentField()

    def validate(self, attrs):
        attrs = super().validate(attrs)
        errors, parsed = {}, []
        for index, item in enumerate(attrs["changes"]):
            change, item_errors = _change_errors(item)
            if change is None:
                errors.update({f"changes[{index}].{field}": messages for field, messages in item_errors.items()})
                continue
            parsed.append(change)
        if errors:
            raise serializers.ValidationError(errors)
        attrs["changes"] = parsed
        return attrs


class ChangeResultSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    name = serializers.CharField()
    op = serializers.ChoiceField(choices=["set", "delete"])
    version = serializers.IntegerField()
    revision = serializers.IntegerField()


class ChangesetSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_username")
    changes = ChangeResultSerializer(many=True)
    revisions = serializers.DictField(child=serializers.IntegerField(), help_text="The revision each namespace got.")

    class Meta:
        model = Changeset
        fields = ["id", "created_at", "actor", "comment", "request_id", "revisions", "changes"]
        read_only_fields = fields


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer_username")

    class Meta:
        model = Review
        fields = ["reviewer", "verdict", "comment", "created_at"]
        read_only_fields = fields


class ProposedChangeSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    name = serializers.CharField()
    op = serializers.ChoiceField(choices=["set", "delete"])
    value = serializers.JSONField(allow_null=True, help_text="A secret's value is masked.")
    base_version = serializers.IntegerField(help_text="The config's version when the request was opened (0: absent).")
    secret = serializers.BooleanField(required=False)


class ProposedChangeDiffSerializer(ProposedChangeSerializer):
    current_value = serializers.JSONField(allow_null=True)
    current_version = serializers.IntegerField()
    changed_since = serializers.BooleanField(help_text="The config changed after the request was opened.")
    patch = serializers.ListField(child=serializers.DictField(), help_text="RFC 6902: today's value to the proposed.")


class ChangeRequestSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author_username")
    namespaces = serializers.SerializerMethodField()
    approvals = serializers.SerializerMethodField()
    approvals_needed = serializers.SerializerMethodField()
    reviews = ReviewSerializer(many=True)
    changes = serializers.SerializerMethodField()
    changeset = serializers.IntegerField(source="changeset_id", allow_null=True)

    class Meta:
        model = ChangeRequest
        fields = [
            "id", "state", "author", "comment", "created_at", "updated_at", "namespaces", "approvals",
            "approvals_needed", "reviews", "changes", "changeset",
        ]
        read_only_fields = fields

    def get_namespaces(self, change_request) -> list[str]:
        return sorted(ns.path for ns in change_request.namespaces.all())

    def get_approvals(self, change_request) -> int:
        return sum(review.verdict == Review.Verdict.APPROVE for review in change_request.reviews.all())

    def get_approvals_needed(self, change_request) -> int:
        return approvals_needed(change_request)

    @extend_schema_field(ProposedChangeSerializer(many=True))
    def get_changes(self, change_request) -> list[dict]:
        return proposed_changes_shown(change_request)


class ChangeRequestDetailSerializer(ChangeRequestSerializer):
    diff = ProposedChangeDiffSerializer(many=True, help_text="Each change against today's value.")

    class Meta(ChangeRequestSerializer.Meta):
        fields = [*ChangeRequestSerializer.Meta.fields, "diff"]
        read_only_fields = fields


class ChangeRequestFilterSerializer(RejectEmptyQueryValues, serializers.Serializer):
    namespace = NamespacePathField(required=False)
    state = serializers.ChoiceField(choices=ChangeRequest.State.choices, required=False)


class ReviewCreateSerializer(StrictInputSerializer):
    comment = CommentField()


class CompareQuerySerializer(serializers.Serializer):
    # `from` is a Python keyword, so the fields are declared here rather than as attributes.
    def get_fields(self):
        return {"from": NamespacePathField(), "to": NamespacePathField()}


class ComparedNameSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["only_in_from", "only_in_to", "different", "same"])
    from_value = serializers.JSONField(allow_null=True)
    to_value = serializers.JSONField(allow_null=True)
    from_version = serializers.IntegerField(allow_null=True)
    to_version = serializers.IntegerField(allow_null=True)
    patch = serializers.ListField(child=serializers.DictField(), help_text="RFC 6902: what promoting does to `to`.")


class CompareSerializer(serializers.Serializer):
    def get_fields(self):
        return {"from": serializers.CharField(), "to": serializers.CharField(),
                "configs": ComparedNameSerializer(many=True)}


class PromoteSerializer(StrictInputSerializer):
    def get_fields(self):
        return {
            "from": NamespacePathField(), "to": NamespacePathField(),
            "names": serializers.ListField(child=ConfigNameField(), required=False, min_length=1,
                                           max_length=CHANGES_MAX, help_text="Default: every name that differs."),
            "comment": CommentField(),
        }


class PromoteResultSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["changeset", "change_request"],
                                   help_text="change_request when the target is protected.")
    changeset = ChangesetSerializer(allow_null=True)
    change_request = ChangeRequestDetailSerializer(allow_null=True)


class ProtectionSerializer(StrictInputSerializer):
    required_approvals = serializers.IntegerField(
        min_value=0, max_value=10, help_text="0: unprotected; 1 or more: changes only through change requests."
    )
