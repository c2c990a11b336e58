"""The namespaces a person may see, and one namespace's configs, kept current."""

from __future__ import annotations

from config_service.errors import error_body
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseNotModified, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.api.etags import etag_matches, quoted
from apps.configs.selectors import namespace_snapshot
from apps.dashboard.forms import value_kind, value_text
from apps.dashboard.views.pages import NamespaceAccess, namespace_page
from apps.errors import DomainError
from apps.tenants.roles import Role
from apps.tenants.selectors import namespace_for, namespaces_visible_to


@require_GET
@login_required
def namespace_list(request):
    namespaces = namespaces_visible_to(request.user).order_by("tenant__slug", "environment__slug", "service__slug")
    return render(request, "dashboard/namespace_list.html", {"namespaces": namespaces})


def _table_context(access: NamespaceAccess) -> dict:
    revision, configs = namespace_snapshot(access.namespace)
    for config in configs:
        config["kind"] = value_kind(config["value"])
        # A secret's value is masked here; its inline editor starts empty rather than with the mask.
        config["text"] = "" if config["secret"] else value_text(config["value"], config["kind"])
    return access.context(revision=revision, configs=configs)


@require_GET
@namespace_page(Role.VIEWER)
def namespace_detail(request, access: NamespaceAccess):
    return render(request, "dashboard/namespace_detail.html", _table_context(access))


@require_GET
@namespace_page(Role.VIEWER)
def namespace_table(request, access: NamespaceAccess):
    """The configs table alone, for the page's refresh after the revision changed."""
    return render(request, "dashboard/_config_table.html", _table_context(access))


@require_GET
def namespace_revision(request, tenant: str, environment: str, service: str):
    """The namespace revision, cheap to poll: 304 while If-None-Match still names it."""
    if not request.user.is_authenticated:
        return JsonResponse(error_body("not_authenticated", "Sign in again."), status=401)
    try:
        namespace, _ = namespace_for(
            request.user, tenant=tenant, environment=environment, service=service, minimum=Role.VIEWER
        )
    except DomainError as error:
        return JsonResponse(error_body(error.code, error.message), status=error.status)
    etag = quoted(namespace.revision)
    if etag_matches(request, etag):
        response = HttpResponseNotModified()
    else:
        response = JsonResponse({"namespace": namespace.path, "revision": namespace.revision})
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache"
    return response
