"""The Django admin for configurations: the history read-only (versions are
immutable), and a form that writes a new version through config_set."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.forms.fields import InvalidJSONInput
from django.http import HttpResponseRedirect

from apps.change_context import ChangeContext
from apps.configs import diffs
from apps.configs.definitions import config_shown_value
from apps.configs.models import Configuration
from apps.configs.services import config_set
from apps.configs.values import config_value_from_text
from apps.errors import DomainError, InvalidInput
from apps.tenants.admin import TenantScopedAdminMixin


class ConfigValueFormField(forms.JSONField):
    """Django's JSON field parses with json.loads as it is: very deep text
    recurses out of the stack and 1e400 becomes infinity, both a 500 with the
    value in the traceback. The API's parse and check answer a form error."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return config_value_from_text(value)
        except InvalidInput as error:
            raise forms.ValidationError(error.fields["value"], code="invalid") from None

    def bound_data(self, data, initial):
        # Shown again as typed, without parsing it a second time.
        return InvalidJSONInput(data)


class ConfigurationSetForm(forms.ModelForm):
    class Meta:
        model = Configuration
        fields = ("namespace", "name", "value", "comment")
        field_classes = {"value": ConfigValueFormField}
        help_texts = {"value": "JSON, e.g. true, 42, \"text\" or {\"key\": 1}. A new version replaces the active one."}

    def validate_unique(self):
        # A name that exists already gets a new version; config_set keeps the
        # versions and the one active row right under the namespace lock.
        pass


@admin.register(Configuration)
class ConfigurationAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    tenant_lookup = "namespace__tenant"
    namespace_lookup = "namespace"
    form = ConfigurationSetForm
    list_display = ("namespace", "name", "version", "value_preview", "is_active", "created_by", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name",)
    list_select_related = ("namespace", "created_by")
    # A secret's value shows masked: the stored envelope stays on the server.
    history_fields = (
        "namespace", "name", "version", "shown_value", "is_active", "is_tombstone", "revision",
        "comment", "created_by", "created_at",
    )
    actions = None

    @admin.display(description="value")
    def value_preview(self, obj: Configuration) -> str:
        return diffs.value_preview(config_shown_value(obj))

    @admin.display(description="value")
    def shown_value(self, obj: Configuration) -> str:
        return diffs.value_preview(config_shown_value(obj), length=10_000)

    def has_add_permission(self, request) -> bool:
        # Only admins reach this admin at all, and an admin may edit.
        return self.has_scope(request)

    def get_fields(self, request, obj=None):
        return ConfigurationSetForm.Meta.fields if obj is None else self.history_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.history_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "namespace":
            kwargs["queryset"] = self.administered_namespaces(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        # The version is written by the service, with its revision, outbox and
        # audit events; the admin then shows the row the service created.
        created = config_set(
            namespace=form.cleaned_data["namespace"],
            name=form.cleaned_data["name"],
            value=form.cleaned_data["value"],
            comment=form.cleaned_data["comment"],
            context=ChangeContext.from_request(request),
        )
        for field in Configuration._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db

    def add_view(self, request, form_url="", extra_context=None):
        # The form checks what it can; what only the service can check under
        # the namespace lock (e.g. the namespace being full) rolls the whole
        # admin transaction back and comes back to the form as a message.
        try:
            return super().add_view(request, form_url, extra_context)
        except DomainError as error:
            # The field messages carry the detail (e.g. each schema violation).
            details = [message for field_messages in (error.fields or {}).values() for message in field_messages]
            self.message_user(request, " ".join([error.message, *details]), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
