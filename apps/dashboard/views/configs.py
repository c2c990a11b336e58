"""Adding, changing and deleting a config. A change is previewed first, and the
save takes exactly the value that was previewed."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from apps.change_context import ChangeContext
from apps.configs.definitions import config_schema_violations, config_shown_value, definition_get
from apps.configs.models import Configuration, config_name_validator
from apps.configs.secrets import secret_proposed_mask
from apps.configs.selectors import config_latest, config_version_to_create
from apps.configs.services import config_delete, config_set
from apps.dashboard.diffs import ValueDiff
from apps.dashboard.forms import (
    ConfigAddForm,
    ConfigChangeForm,
    ConfigDeleteForm,
    canonical_json,
    value_kind,
    value_text,
)
from apps.dashboard.views.pages import (
    NamespaceAccess,
    add_domain_error,
    config_page,
    namespace_page,
    production_confirmed,
)
from apps.errors import DomainError, PreconditionFailed
from apps.tenants.roles import Role


def _change_page(request, access: NamespaceAccess, *, form: ConfigChangeForm, name: str,
                 current: Configuration | None, diff: ValueDiff | None = None, status: int = 200,
                 adding: bool = False):
    """The edit (or add) page: the form as the person left it and, once previewed, the diff."""
    data = form.cleaned_data if form.is_bound and hasattr(form, "cleaned_data") else {}
    shown = config_shown_value(current)
    secret = current.is_secret if current is not None else bool(data.get("secret"))
    kind = data.get("kind") or form.data.get("kind") or (value_kind(shown) if current and not secret else "string")
    definition = definition_get(access.namespace, name) if name else None
    context = access.context(
        name=name,
        current=current,
        form=form,
        adding=adding,
        name_rule=config_name_validator.message,
        diff=diff,
        kind=kind,
        # A secret's editor starts empty: its plain text is never put in a page.
        text=form.data.get("value", "") if form.is_bound else value_text(shown, kind) if current and not secret else "",
        secret=secret,
        schema=definition.schema if definition else None,
        schema_version=definition.schema_version if definition else None,
        comment=form.data.get("comment", "") if form.is_bound else "",
        expected_version=data.get("expected_version", current.version if current else None),
        previewed=canonical_json(data["parsed_value"]) if "parsed_value" in data else "",
    )
    if diff is not None and "parsed_value" in data:
        context["text"] = value_text(data["parsed_value"], kind)
    return render(request, "dashboard/config_change.html", context, status=status)


def _diff_from(current: Configuration | None, value, *, secret: bool = False) -> ValueDiff:
    after = secret_proposed_mask() if secret or (current is not None and current.is_secret) else value
    return ValueDiff(before=config_shown_value(current), after=after, before_exists=current is not None)


def _schema_errors(access: NamespaceAccess, form: ConfigChangeForm, name: str) -> bool:
    """The schema's violations beside the value at preview, before any save is offered."""
    violations = config_schema_violations(access.namespace, name, form.cleaned_data["parsed_value"])
    for violation in violations:
        form.add_error("value", violation)
    return bool(violations)


def _apply_change(request, access: NamespaceAccess, *, form: ConfigChangeForm, name: str,
                  current: Configuration | None, adding: bool = False):
    if not form.is_valid():
        return _change_page(request, access, form=form, name=name, current=current, status=400, adding=adding)
    value = form.cleaned_data["parsed_value"]
    if _schema_errors(access, form, name):
        return _change_page(request, access, form=form, name=name, current=current, status=400, adding=adding)
    new_secret = bool(form.cleaned_data.get("secret"))
    diff = _diff_from(current, value, secret=new_secret)
    if not form.is_save:
        return _change_page(request, access, form=form, name=name, current=current, diff=diff, adding=adding)
    if not production_confirmed(access, form):
        return _change_page(request, access, form=form, name=name, current=current, diff=diff, status=400,
                            adding=adding)
    try:
        config = config_set(
            namespace=access.namespace, name=name, value=value, comment=form.cleaned_data["comment"],
            expected_version=form.cleaned_data["expected_version"], context=ChangeContext.from_request(request),
            secret=True if new_secret else None,
        )
    except PreconditionFailed:
        # Show the value as it is now, so a second save is made knowingly.
        now = config_latest(access.namespace, name)
        form.add_error(None, f"{name} was changed by someone else since you opened it. The preview below now "
                             "compares with the current value; save again to overwrite it.")
        form.cleaned_data["expected_version"] = now.version if now else 0
        current = now if now is not None and now.is_active else None
        return _change_page(request, access, form=form, name=name, current=current,
                            diff=_diff_from(current, value, secret=new_secret),
                            status=412, adding=adding)
    except DomainError as error:
        add_domain_error(form, error)
        return _change_page(request, access, form=form, name=name, current=current, diff=diff,
                            status=error.status, adding=adding)
    messages.success(request, f"Saved {name}: version {config.version}.")
    return redirect(access.url("namespace"))


@require_http_methods(["GET", "POST"])
@config_page(Role.EDITOR)
def config_edit(request, access: NamespaceAccess, current: Configuration):
    if request.method == "GET":
        return _change_page(request, access, form=ConfigChangeForm(), name=current.name, current=current)
    return _apply_change(request, access, form=ConfigChangeForm(request.POST), name=current.name, current=current)


@require_http_methods(["GET", "POST"])
@namespace_page(Role.EDITOR)
def config_add(request, access: NamespaceAccess):
    if request.method == "GET":
        return _change_page(request, access, form=ConfigAddForm(), name="", current=None, adding=True)
    form = ConfigAddForm(request.POST)
    if not form.is_valid():
        return _change_page(request, access, form=form, name=form.data.get("name", ""), current=None, status=400,
                            adding=True)
    name = form.cleaned_data["name"]
    if form.cleaned_data["expected_version"] is None:
        # The first preview: from here on the page carries the version it creates from.
        try:
            form.cleaned_data["expected_version"] = config_version_to_create(access.namespace, name)
        except DomainError as error:
            add_domain_error(form, error)
            return _change_page(request, access, form=form, name=name, current=None, status=error.status,
                                adding=True)
    return _apply_change(request, access, form=form, name=name, current=None, adding=True)


def _delete_page(request, access: NamespaceAccess, *, current: Configuration, form, status=200):
    return render(request, "dashboard/config_delete.html",
                  access.context(name=current.name, current=current, shown_value=config_shown_value(current),
                                 form=form), status=status)


@require_http_methods(["GET", "POST"])
@config_page(Role.EDITOR)
def config_remove(request, access: NamespaceAccess, current: Configuration):
    name = current.name
    if request.method == "GET":
        return _delete_page(request, access, current=current, form=ConfigDeleteForm())
    form = ConfigDeleteForm(request.POST)
    if not form.is_valid() or not production_confirmed(access, form):
        return _delete_page(request, access, current=current, form=form, status=400)
    try:
        config_delete(
            namespace=access.namespace, name=name, comment=form.cleaned_data["comment"],
            expected_version=form.cleaned_data["expected_version"], context=ChangeContext.from_request(request),
        )
    except PreconditionFailed:
        # `current` was read after the other change: the page now shows what would be deleted.
        form.add_error(None, f"{name} was changed by someone else since you opened this page. The value below "
                             "is the current one; delete again if it should still go.")
        return _delete_page(request, access, current=current, form=form, status=412)
    except DomainError as error:
        add_domain_error(form, error)
        return _delete_page(request, access, current=current, form=form, status=error.status)
    messages.success(request, f"Deleted {name}. Its history is kept.")
    return redirect(access.url("namespace"))
