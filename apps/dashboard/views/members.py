"""Who holds which role on a namespace: namespace admins grant and revoke."""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from apps.change_context import ChangeContext
from apps.dashboard.forms import RoleGrantForm, RoleRevokeForm
from apps.dashboard.views.pages import NamespaceAccess, form_write, namespace_page
from apps.tenants.models import Namespace
from apps.tenants.roles import Role, role_holders
from apps.tenants.selectors import member_by_username, user_by_username
from apps.tenants.services import role_grant, role_revoke


def _change_role(namespace: Namespace, revoking: bool, data: dict, context: ChangeContext):
    if revoking:
        user = member_by_username(namespace, data["username"])
        role_revoke(target=namespace, user=user, context=context)
    else:
        user = user_by_username(data["username"])
        role_grant(target=namespace, user=user, role=Role.from_label(data["role"]), context=context)
    return user


@require_http_methods(["GET", "POST"])
@namespace_page(Role.ADMIN)
def namespace_members(request, access: NamespaceAccess):
    grant_form, revoke_form, status = RoleGrantForm(), None, 200
    if request.method == "POST":
        revoking = request.POST.get("action") == "revoke"
        form = RoleRevokeForm(request.POST) if revoking else RoleGrantForm(request.POST)
        # Every refusal (no such user, a role the service will not give) is about the username.
        user, status = form_write(request, form, partial(_change_role, access.namespace, revoking),
                                  error_field="username")
        if status is None:
            done = "Revoked the role of" if revoking else f"Granted {form.cleaned_data['role']} to"
            messages.success(request, f"{done} {user.username} on {access.namespace.path}.")
            return redirect(access.url("members"))
        grant_form, revoke_form = (grant_form, form) if revoking else (form, None)
    return render(request, "dashboard/members.html", access.context(
        grant_form=grant_form, revoke_form=revoke_form,
        namespace_members=role_holders(access.namespace), tenant_members=role_holders(access.namespace.tenant),
    ), status=status)
