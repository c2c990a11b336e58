"""A namespace's fleet (its SDK instances, how fast revisions reached them) and
its rollouts, with promote and abort (confirmed in production namespaces)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from apps.change_context import ChangeContext
from apps.dashboard.forms import RolloutActionForm
from apps.dashboard.views.pages import NamespaceAccess, error_page, form_write, namespace_page, production_confirmed
from apps.errors import InvalidInput, NotFound, PermissionDenied
from apps.fleet import selectors
from apps.fleet.models import Rollout
from apps.fleet.serializers import InstancesQuerySerializer
from apps.fleet.services import rollout_promote, rollout_withdraw
from apps.tenants.roles import Role

# The convergence chart: the latest revisions, one row each, bars to p50/p90/p99/p100.
CHART_REVISIONS = 6
CHART_WIDTH, CHART_LABEL_WIDTH, CHART_ROW_HEIGHT = 640, 110, 44
PERCENT_COLOURS = {"p50": "#2e7d32", "p90": "#f9a825", "p99": "#ef6c00", "p100": "#c62828"}


def _labels_filter(request) -> dict[str, str]:
    """The label filter, held to the API's rules (InvalidInput otherwise); an
    emptied filter box filters nothing."""
    query = InstancesQuerySerializer(data={"label": [item for item in request.GET.getlist("label") if item]})
    if not query.is_valid():
        raise InvalidInput(
            "The label filter must be key=value: a key of 1 to 100 characters and a value of at most 100, "
            "with no NUL characters or unpaired surrogates."
        )
    return query.labels()


def convergence_chart(namespace) -> dict:
    """Geometry of the SVG chart (rendered by the template, no script, no CDN)."""
    rows = []
    for revision in selectors.latest_revisions(namespace, CHART_REVISIONS):
        try:
            rows.append(selectors.revision_convergence(namespace, revision))
        except NotFound:
            continue  # its commit time is gone with its pruned event
    longest = max((time["seconds"] for row in rows for time in row["times"].values() if time), default=0) or 1.0
    axis_end = CHART_WIDTH - 60
    scale = (axis_end - CHART_LABEL_WIDTH) / longest
    bars = []
    for index, row in enumerate(rows):
        y = index * CHART_ROW_HEIGHT
        marks = [
            {"key": key, "x": CHART_LABEL_WIDTH + time["seconds"] * scale, "seconds": time["seconds"],
             "colour": PERCENT_COLOURS[key]}
            for key, time in row["times"].items() if time
        ]
        bars.append({"revision": row["revision"], "y": y, "marks": marks, "applied": row["applied"],
                     "instances": row["instances"]})
    height = max(1, len(bars)) * CHART_ROW_HEIGHT + 24
    legend = [{"key": key, "colour": colour, "x": CHART_LABEL_WIDTH + 80 + index * 70}
              for index, (key, colour) in enumerate(PERCENT_COLOURS.items())]
    return {"bars": bars, "width": CHART_WIDTH, "height": height, "legend_y": height - 6, "legend": legend,
            "label_width": CHART_LABEL_WIDTH, "axis_end": axis_end, "longest": round(longest, 3)}


@never_cache
@require_GET
@namespace_page(Role.VIEWER)
def namespace_fleet(request, access: NamespaceAccess):
    namespace = access.namespace
    try:
        labels = _labels_filter(request)
    except InvalidInput as error:
        return error_page(request, error)
    stale_since = selectors.stale_before()
    instances = list(selectors.namespace_instances(namespace, labels=labels))
    summary = dict.fromkeys(selectors.STATUSES, 0)
    by_revision: dict[int, int] = {}
    for instance in instances:
        instance.status = selectors.instance_status(instance, revision=namespace.revision, stale_since=stale_since)
        summary[instance.status] += 1
        by_revision[instance.revision] = by_revision.get(instance.revision, 0) + 1
    return render(request, "dashboard/fleet.html", access.context(
        tab="fleet", instances=instances, summary=summary, by_revision=sorted(by_revision.items(), reverse=True),
        labels=labels, chart=convergence_chart(namespace), rollouts=selectors.namespace_rollouts(namespace)[:20],
    ))


def _act(access: NamespaceAccess, rollout: Rollout, data: dict, context: ChangeContext) -> Rollout:
    if data["action"] == "promote":
        return rollout_promote(namespace=access.namespace, rollout_id=rollout.pk, context=context)
    return rollout_withdraw(namespace=access.namespace, rollout_id=rollout.pk, state=Rollout.State.ABORTED,
                            reason=f"Aborted by {context.actor_username}.", context=context)


@never_cache
@require_http_methods(["GET", "POST"])
@namespace_page(Role.VIEWER)
def rollout_page(request, access: NamespaceAccess, name: str, rollout_id):
    try:
        rollout = selectors.rollout_get(access.namespace, name, rollout_id)
    except NotFound as error:
        return error_page(request, error)
    form, status = RolloutActionForm(), 200
    if request.method == "POST":
        if not access.can_edit:
            return error_page(request, PermissionDenied("Only editors promote or abort rollouts."))
        form = RolloutActionForm(request.POST)
        if form.is_valid() and not production_confirmed(access, form):
            status = 400
        else:
            done, status = form_write(request, form, lambda data, context: _act(access, rollout, data, context))
            if status is None:
                messages.success(request, f"Rollout of {name}: {done.state.replace('_', ' ')}.")
                return redirect(access.url("rollout", name, rollout.pk))
    cohort = selectors.rollout_cohort(rollout)
    return render(request, "dashboard/rollout.html", access.context(
        tab="fleet", rollout=rollout, cohort=cohort, form=form,
    ), status=status)
