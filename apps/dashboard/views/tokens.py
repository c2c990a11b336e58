"""A namespace's service tokens: namespace admins create and revoke them."""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from apps.change_context import ChangeContext
from apps.dashboard.forms import ServiceTokenCreateForm, ServiceTokenRevokeForm
from apps.dashboard.views.pages import NamespaceAccess, form_write, namespace_page
from apps.tenants.models import Namespace, ServiceToken
from apps.tenants.roles import Role
from apps.tenants.selectors import service_token_of, service_tokens_of
from apps.tenants.services import service_token_create, service_token_revoke


def _create(namespace: Namespace, data: dict, context: ChangeContext) -> tuple[ServiceToken, str]:
    return service_token_create(namespace=namespace, name=data["name"], context=context)


def _revoke(namespace: Namespace, data: dict, context: ChangeContext) -> ServiceToken:
    token = service_token_of(namespace, data["token_id"])
    service_token_revoke(token=token, context=context)
    return token


@never_cache
@require_http_methods(["GET", "POST"])
@namespace_page(Role.ADMIN)
def namespace_tokens(request, access: NamespaceAccess):
    create_form, revoke_form, status = ServiceTokenCreateForm(), None, 200
    new_token, secret = None, None
    if request.method == "POST" and request.POST.get("action") == "revoke":
        revoke_form = ServiceTokenRevokeForm(request.POST)
        token, status = form_write(request, revoke_form, partial(_revoke, access.namespace))
        if status is None:
            messages.success(request, f"Revoked the token {token.name} ({token.prefix}…).")
            return redirect(access.url("tokens"))
    elif request.method == "POST":
        form = ServiceTokenCreateForm(request.POST)
        created, status = form_write(request, form, partial(_create, access.namespace))
        if status is None:
            # The secret is shown on this response only: no redirect, nothing stored.
            (new_token, secret), status = created, 201
        else:
            create_form = form
    return render(request, "dashboard/tokens.html", access.context(
        tokens=service_tokens_of(access.namespace), create_form=create_form, revoke_form=revoke_form,
        secret=secret, new_token=new_token,
    ), status=status)
