"""The webhooks of the tenants the signed-in person administers, with their
recent deliveries (the same selectors as /api/v1/tenants/{t}/webhooks/)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.webhooks.selectors import deliveries_recent, webhooks_administered_by
from apps.webhooks.signing import secret_masked


@require_GET
@login_required
def webhook_list(request):
    webhooks = [
        {"webhook": webhook, "secret": secret_masked(webhook.secret), "deliveries": deliveries_recent(webhook)}
        for webhook in webhooks_administered_by(request.user)
    ]
    return render(request, "dashboard/webhooks.html", {"webhooks": webhooks})
