"""The audit log, filtered as the API's /api/v1/audit/ filters it."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.audit.selectors import audit_events_filtered
from apps.dashboard.forms import AuditFilterForm

AUDIT_PAGE_SIZE = 50


@require_GET
@login_required
def audit_log(request):
    form = AuditFilterForm(request.GET)
    if form.is_valid():
        events, status = audit_events_filtered(request.user, **form.cleaned_data), 200
    else:
        events, status = audit_events_filtered(request.user).none(), 400
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "dashboard/audit.html", {"form": form, "page": page, "query": query.urlencode()},
                  status=status)
