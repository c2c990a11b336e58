"""A config's versions, the difference between two of them, and rolling back."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.change_context import ChangeContext
from apps.configs.definitions import config_shown_value
from apps.configs.selectors import config_version, config_versions
from apps.configs.services import config_rollback
from apps.dashboard.diffs import ValueDiff
from apps.dashboard.forms import ConfigRollbackForm, VersionDiffForm
from apps.dashboard.views.pages import (
    NamespaceAccess,
    add_domain_error,
    error_page,
    namespace_page,
    production_confirmed,
)
from apps.errors import DomainError, NotFound, PreconditionFailed
from apps.tenants.roles import Role

HISTORY_PAGE_SIZE = 50


def _history_page(request, access: NamespaceAccess, name: str, *, rollback_form=None, status=200):
    versions = config_versions(access.namespace, name)
    latest = versions.first()
    if latest is None:
        return error_page(request, NotFound(f"No config named {name!r} in {access.namespace.path}."))
    page = Paginator(versions, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    choice = VersionDiffForm(request.GET)
    diff, older, newer = None, None, None
    if choice.is_valid():
        newer_number = choice.cleaned_data["to_version"] or latest.version
        older_number = choice.cleaned_data["from_version"] or max(newer_number - 1, 1)
        try:
            older = config_version(access.namespace, name, older_number)
            newer = config_version(access.namespace, name, newer_number)
        except NotFound as error:
            choice.add_error(None, error.message)
        else:
            diff = ValueDiff(before=config_shown_value(older), after=config_shown_value(newer),
                             before_exists=not older.is_tombstone, after_exists=not newer.is_tombstone)
    if choice.errors and status == 200:
        status = 400
    return render(request, "dashboard/config_history.html", access.context(
        name=name, latest=latest, page=page, all_versions=range(latest.version, 0, -1), choice=choice, diff=diff,
        older=older, newer=newer, rollback_form=rollback_form,
    ), status=status)


@require_GET
@namespace_page(Role.VIEWER)
def config_history(request, access: NamespaceAccess, name: str):
    return _history_page(request, access, name)


@require_POST
@namespace_page(Role.EDITOR)
def config_restore(request, access: NamespaceAccess, name: str):
    form = ConfigRollbackForm(request.POST)
    if not form.is_valid() or not production_confirmed(access, form):
        return _history_page(request, access, name, rollback_form=form, status=400)
    try:
        config = config_rollback(
            namespace=access.namespace, name=name, to_version=form.cleaned_data["to_version"],
            comment=form.cleaned_data["comment"], expected_version=form.cleaned_data["expected_version"],
            context=ChangeContext.from_request(request),
        )
    except PreconditionFailed:
        form.add_error(None, f"{name} was changed by someone else since this page was loaded; "
                             "check the history below and roll back again.")
        return _history_page(request, access, name, rollback_form=form, status=412)
    except DomainError as error:
        add_domain_error(form, error)
        return _history_page(request, access, name, rollback_form=form, status=error.status)
    messages.success(request, f"Rolled {name} back to version {form.cleaned_data['to_version']}: "
                              f"now version {config.version}.")
    return redirect(access.url("config-history", name))
