"""Changes of several values at once: editing several values of a namespace and
saving them once (a changeset, or a change request where the namespace is
protected), reviewing change requests, and comparing two namespaces side by
side to promote values from one to the other."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from apps.change_context import ChangeContext
from apps.changes import change_requests, promotion, selectors, services
from apps.changes.models import ChangeRequest
from apps.changes.serializers import CompareQuerySerializer
from apps.configs.selectors import active_configs
from apps.configs.values import config_value_from_text, values_identical
from apps.dashboard.diffs import ValueDiff
from apps.dashboard.forms import canonical_json
from apps.dashboard.views.pages import NamespaceAccess, error_page, namespace_page
from apps.errors import DomainError, NotFound
from apps.tenants.roles import Role
from apps.tenants.selectors import namespaces_visible_to

REVIEW_STEPS = {
    "approve": lambda request_id, context, comment: change_requests.change_request_review(
        change_request_id=request_id, verdict="approve", context=context, comment=comment),
    "reject": lambda request_id, context, comment: change_requests.change_request_review(
        change_request_id=request_id, verdict="reject", context=context, comment=comment),
    "apply": lambda request_id, context, comment: change_requests.change_request_apply(
        change_request_id=request_id, context=context),
    "withdraw": lambda request_id, context, comment: change_requests.change_request_withdraw(
        change_request_id=request_id, context=context),
}


def _made(request, made) -> str:
    """Where to go after a changeset or a change request was made, with the message saying which."""
    if isinstance(made, ChangeRequest):
        messages.success(request, f"Change request {made.pk} opened: the namespace is protected, so it needs "
                                  "approval before it is applied.")
        return reverse("dashboard:change-request", args=[made.pk])
    messages.success(request, f"Saved {len(made.changes)} change{'s' if len(made.changes) != 1 else ''} together "
                              f"as changeset {made.pk}.")
    return ""


@require_http_methods(["GET", "POST"])
@namespace_page(Role.EDITOR)
def namespace_edit_several(request, access: NamespaceAccess):
    """Every plain value of the namespace as JSON; the ones changed are saved together."""
    configs = [config for config in active_configs(access.namespace) if not config.is_secret]
    rows = [{"name": c.name, "version": c.version, "text": canonical_json(c.value)} for c in configs]
    error, status = "", 200
    if request.method == "POST":
        changes = []
        for row, config in zip(rows, configs, strict=True):
            row["text"] = request.POST.get(f"value-{config.name}", row["text"])
            try:
                value = config_value_from_text(row["text"])
            except DomainError as refused:
                row["error"] = " ".join(refused.fields["value"])
                continue
            if not values_identical(value, config.value):
                changes.append(services.ChangeInput(namespace=access.namespace.path, name=config.name, op="set",
                                                    value=value, expected_version=config.version))
        unreadable = any("error" in row for row in rows)
        if not unreadable and not changes:
            messages.info(request, "Nothing changed.")
            return redirect(access.url("namespace"))
        status = 400
        if not unreadable:
            try:
                made = change_requests.changes_submit(changes=changes, context=ChangeContext.from_request(request),
                                                      comment=request.POST.get("comment", ""))
                return redirect(_made(request, made) or access.url("namespace"))
            except DomainError as refused:
                error, status = refused.message, refused.status
    return render(request, "dashboard/edit_several.html",
                  access.context(rows=rows, error=error, protected=access.namespace.required_approvals > 0),
                  status=status)


@require_http_methods(["GET"])
@login_required
def change_request_list(request):
    state = request.GET.get("state", ChangeRequest.State.OPEN)
    if state not in ChangeRequest.State.values:
        state = ChangeRequest.State.OPEN
    requests = selectors.change_requests_visible_to(request.user, state=state)[:200]
    return render(request, "dashboard/change_requests.html",
                  {"requests": requests, "state": state, "states": ChangeRequest.State.values})


@require_http_methods(["GET", "POST"])
@login_required
def change_request_review(request, change_request_id: int):
    """The review page: each change against today's value, the reviews, and the steps."""
    if request.method == "POST":
        step = REVIEW_STEPS.get(request.POST.get("action", ""))
        if step is not None:
            try:
                done = step(change_request_id, ChangeContext.from_request(request), request.POST.get("comment", ""))
                messages.success(request, f"Change request {done.pk} is {done.state}.")
            except DomainError as error:
                messages.error(request, error.message)
        return redirect("dashboard:change-request", change_request_id)
    try:
        change_request = selectors.change_request_for(request.user, change_request_id)
    except DomainError as error:
        return error_page(request, error)
    rows = []
    for change in selectors.change_request_diff(change_request):
        rows.append({**change, "diff": ValueDiff(
            before=change["current_value"], after=change["value"], before_exists=change["current_version"] > 0
            and change["current_value"] is not None, after_exists=change["op"] == "set")})
    is_author = change_request.author_id == request.user.pk
    return render(request, "dashboard/change_request.html", {
        "change_request": change_request, "rows": rows, "is_author": is_author,
        "reviewed": any(review.reviewer_id == request.user.pk for review in change_request.reviews.all()),
        "approvals": sum(review.verdict == "approve" for review in change_request.reviews.all()),
        "approvals_needed": change_requests.approvals_needed(change_request),
    })


@require_http_methods(["GET", "POST"])
@login_required
def namespaces_compare(request):
    """Two namespaces side by side; the chosen names promoted from the left to the right."""
    visible = list(namespaces_visible_to(request.user).order_by("path").values_list("path", flat=True))
    source_path = request.POST.get("from") or request.GET.get("from", "")
    target_path = request.POST.get("to") or request.GET.get("to", "")
    context = {"paths": visible, "source": source_path, "target": target_path, "rows": None}
    if not (source_path and target_path):
        return render(request, "dashboard/compare.html", context)
    query = CompareQuerySerializer(data={"from": source_path, "to": target_path})
    if not query.is_valid():
        # Checked as the API checks them: text the database cannot hold never reaches a query.
        context["errors"] = [f"{field.capitalize()}: {message}" for field, messages in query.errors.items()
                             for message in messages]
        return render(request, "dashboard/compare.html", context, status=400)
    try:
        source = selectors.namespace_by_path(request.user, source_path, Role.VIEWER)
        target = selectors.namespace_by_path(request.user, target_path, Role.VIEWER)
        if request.method == "POST":
            names = request.POST.getlist("names")
            made = promotion.promote(source=source, target=target, names=names or None,
                                    context=ChangeContext.from_request(request), comment=request.POST.get("comment", ""))
            compare_again = f"{reverse('dashboard:compare')}?{urlencode({'from': source.path, 'to': target.path})}"
            return redirect(_made(request, made) or compare_again)
    except DomainError as error:
        # An invisible namespace is a 404 page whatever the method, as in the API.
        if request.method == "GET" or isinstance(error, NotFound):
            return error_page(request, error)
        # A refused promotion (nothing differs, no editor role, changed meanwhile) is told on the page.
        messages.error(request, error.message)
        return redirect(f"{reverse('dashboard:compare')}?{urlencode({'from': source_path, 'to': target_path})}")
    context.update(rows=selectors.namespaces_compare(source, target), protected=target.required_approvals > 0)
    return render(request, "dashboard/compare.html", context)
