"""What every namespace page shares: the namespace of the URL with the signed-in
person's role on it, and how a refused request or a service's error is shown."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import TypeVar

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse

from apps.change_context import ChangeContext
from apps.configs.selectors import config_current
from apps.errors import DomainError, NotFound, PermissionDenied
from apps.tenants.models import Namespace
from apps.tenants.roles import Role
from apps.tenants.selectors import namespace_for

T = TypeVar("T")


@dataclass(frozen=True)
class NamespaceAccess:
    """A namespace the signed-in person may see, and their role on it."""

    namespace: Namespace
    role: Role

    @property
    def can_edit(self) -> bool:
        return self.role >= Role.EDITOR

    @property
    def can_admin(self) -> bool:
        return self.role >= Role.ADMIN

    @property
    def is_production(self) -> bool:
        return self.namespace.environment.is_production

    def url(self, view: str, *extra) -> str:
        return reverse(f"dashboard:{view}", args=[*self.namespace.path_segments, *extra])

    def context(self, **extra) -> dict:
        """What every namespace page's template gets, and the page's own items."""
        return {"access": self, "namespace": self.namespace, **extra}


def error_page(request, error: DomainError):
    return render(request, "dashboard/error.html", {"error": error}, status=error.status)


def namespace_page(minimum: Role):
    """Resolves the namespace of the URL for the signed-in person with at least
    that role: one they may not see is a 404 page, a missing role a 403 page."""

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapper(request, tenant: str, environment: str, service: str, **kwargs):
            try:
                namespace, role = namespace_for(
                    request.user, tenant=tenant, environment=environment, service=service, minimum=minimum
                )
            except (NotFound, PermissionDenied) as error:
                return error_page(request, error)
            return view(request, NamespaceAccess(namespace, role), **kwargs)

        return wrapper

    return decorate


def config_page(minimum: Role):
    """namespace_page for the pages of one live config, which they get with its
    current version: a name that is not live is a 404 page."""

    def decorate(view):
        @namespace_page(minimum)
        @wraps(view)
        def wrapper(request, access: NamespaceAccess, name: str):
            try:
                current = config_current(access.namespace, name)
            except NotFound as error:
                return error_page(request, error)
            return view(request, access, current)

        return wrapper

    return decorate


def add_domain_error(form: forms.Form, error: DomainError, *, field: str | None = None) -> None:
    """The service's field errors next to the fields the form has, the rest next
    to `field`, or on top of the form."""
    for name, field_messages in (error.fields or {}).items():
        for message in field_messages:
            form.add_error(name if name in form.fields else field, message)
    if not error.fields:
        form.add_error(field, error.message)


def form_write(request, form: forms.Form, write: Callable[[dict, ChangeContext], T], *,
               error_field: str | None = None) -> tuple[T | None, int | None]:
    """Makes the write `write(cleaned_data, context)` if the form is valid: its
    result and no status when it was made, else no result and the status of the
    page that shows the errors on the form (400, or the service error's)."""
    if not form.is_valid():
        return None, 400
    try:
        return write(form.cleaned_data, ChangeContext.from_request(request)), None
    except DomainError as error:
        add_domain_error(form, error, field=error_field)
        return None, error.status


def production_confirmed(access: NamespaceAccess, form: forms.Form) -> bool:
    if access.is_production and not form.cleaned_data.get("confirm_production"):
        form.add_error("confirm_production", f"Tick this box to change {access.namespace.path}, a production namespace.")
        return False
    return True
