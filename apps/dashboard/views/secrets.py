"""A secret's plain value on request, for namespace admins: one audited reveal
per click (a POST, so no link, prefetch or history entry reveals it)."""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.change_context import ChangeContext
from apps.configs.definitions import config_reveal
from apps.configs.models import Configuration
from apps.dashboard.views.pages import NamespaceAccess, config_page
from apps.tenants.roles import Role


@never_cache
@require_POST
@config_page(Role.ADMIN)
def config_reveal_page(request, access: NamespaceAccess, current: Configuration):
    if not current.is_secret:
        return redirect(access.url("namespace"))
    value = config_reveal(config=current, context=ChangeContext.from_request(request))
    return render(request, "dashboard/config_reveal.html", access.context(name=current.name, current=current,
                                                                          value=value))
