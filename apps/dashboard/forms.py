"""Forms of the dashboard: they turn what a person typed into the values the
services take, and carry errors back to the field they belong to."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from django import forms

from apps.audit.models import AuditEvent
from apps.audit.serializers import AuditFilterSerializer
from apps.configs.models import COMMENT_MAX_LENGTH, CONFIG_NAME_MAX_LENGTH, config_name_validator
from apps.configs.values import config_value_check, config_value_from_text, value_as_stored
from apps.errors import InvalidInput
from apps.tenants.roles import Role
from apps.tenants.serializers import ServiceTokenCreateSerializer

# How a value is edited: the input that fits its JSON type.
VALUE_KINDS = {
    "boolean": "On/off",
    "number": "Number",
    "string": "Text",
    "json": "JSON (object or list)",
}
_INTEGER = re.compile(r"^[+-]?\d+$")
_TRUE = {"true", "on", "1", "yes"}
_FALSE = {"", "false", "off", "0", "no"}


def value_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "json"


def value_text(value: Any, kind: str) -> str:
    """The text an input of that kind shows for the value."""
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "string":
        return value
    return json.dumps(value, indent=2 if kind == "json" else None, ensure_ascii=False)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_value(kind: str, text: str) -> Any:
    """The value typed into an input of that kind, parsed and then checked by
    the API's one value check, so the dashboard refuses (and previews) nothing
    the API would treat differently."""
    try:
        if kind == "json":
            value = config_value_from_text(text)
        else:
            value = _parse_scalar(kind, text)
            config_value_check(value)
    except InvalidInput as error:
        raise forms.ValidationError(error.fields["value"]) from None
    # Previewed as it will be stored, so the save takes exactly what was shown.
    return value_as_stored(value)


def _parse_scalar(kind: str, text: str) -> Any:
    if kind == "boolean":
        word = text.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise forms.ValidationError("Enter true or false.")
    if kind == "number":
        text = text.strip()
        try:
            number = int(text) if _INTEGER.match(text) else float(text)
        except ValueError:
            raise forms.ValidationError("Enter a number, e.g. 30 or 2.5.") from None
        if not math.isfinite(number):
            raise forms.ValidationError("Enter a finite number.")
        return number
    return text


class ProductionConfirmation(forms.Form):
    confirm_production = forms.BooleanField(required=False)


class ConfigChangeForm(ProductionConfirmation):
    """A new value for one config. The first post previews it; a save is taken
    only for exactly the value that was previewed."""

    action = forms.ChoiceField(choices=[("preview", "Preview"), ("save", "Save")], required=False)
    kind = forms.ChoiceField(choices=VALUE_KINDS.items())
    value = forms.CharField(required=False, strip=False)
    comment = forms.CharField(required=False, max_length=COMMENT_MAX_LENGTH)
    # The version the person saw: a change made meanwhile is refused, not overwritten.
    expected_version = forms.IntegerField(required=False, min_value=0)
    previewed = forms.CharField(required=False, strip=False)

    def clean(self):
        data = super().clean()
        if "kind" in data and not self.has_error("value"):
            try:
                data["parsed_value"] = parse_value(data["kind"], data.get("value", ""))
            except forms.ValidationError as error:
                self.add_error("value", error)
        return data

    @property
    def is_save(self) -> bool:
        data = self.cleaned_data
        return (
            data.get("action") == "save"
            and data.get("expected_version") is not None
            and data.get("previewed") == canonical_json(data["parsed_value"])
        )


class ConfigAddForm(ConfigChangeForm):
    name = forms.CharField(max_length=CONFIG_NAME_MAX_LENGTH, validators=[config_name_validator])
    # Decided at creation: the value is stored encrypted and shown masked.
    secret = forms.BooleanField(required=False)


class ConfigDeleteForm(ProductionConfirmation):
    comment = forms.CharField(required=False, max_length=COMMENT_MAX_LENGTH)
    expected_version = forms.IntegerField(min_value=0)


class ConfigRollbackForm(ProductionConfirmation):
    to_version = forms.IntegerField(min_value=1)
    comment = forms.CharField(required=False, max_length=COMMENT_MAX_LENGTH)
    expected_version = forms.IntegerField(min_value=0)


class VersionDiffForm(forms.Form):
    from_version = forms.IntegerField(min_value=1, required=False)
    to_version = forms.IntegerField(min_value=1, required=False)


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self):
        super().__init__(format="%Y-%m-%dT%H:%M")


class AuditFilterForm(forms.Form):
    """The audit page's filters. The form only draws the inputs: the API's
    AuditFilterSerializer reads them, so the page filters exactly as
    /api/v1/audit/ does, and its cleaned data are that serializer's."""

    namespace = forms.CharField(required=False, label="Namespace")
    actor = forms.CharField(required=False, label="Actor (username)")
    action = forms.ChoiceField(required=False, choices=[("", "Any action"), *AuditEvent.Action.choices])
    since = forms.CharField(required=False, widget=DateTimeLocalInput(), label="Since (UTC)")
    until = forms.CharField(required=False, widget=DateTimeLocalInput(), label="Until (UTC)")

    def clean(self):
        # A page sends every input, so an empty one is a filter not set; the API
        # refuses empty filters, which only a mistake in a query would send.
        given = {name: value for name, value in super().clean().items() if value}
        filters = AuditFilterSerializer(data=given)
        if not filters.is_valid():
            for field, messages in filters.errors.items():
                self.add_error(field if field in self.fields else None, [str(message) for message in messages])
            return {}
        return filters.validated_data


class RoleGrantForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=[(role.label, role.label.title()) for role in Role], initial=Role.VIEWER.label)


class RoleRevokeForm(forms.Form):
    username = forms.CharField(max_length=150)


class ServiceTokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100)

    def clean_name(self) -> str:
        # The API's rule for token names, so both ways in accept the same names.
        check = ServiceTokenCreateSerializer(data={"name": self.cleaned_data["name"]})
        if not check.is_valid():
            raise forms.ValidationError([str(message) for message in check.errors["name"]])
        return check.validated_data["name"]


class ServiceTokenRevokeForm(forms.Form):
    token_id = forms.IntegerField(min_value=1)


class RolloutActionForm(ProductionConfirmation):
    action = forms.ChoiceField(choices=[("promote", "promote"), ("abort", "abort")])
