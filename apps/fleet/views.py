"""The fleet endpoints: instances and convergence (viewer), rollouts (editor to change)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.api.base import NamespaceScopedView
from apps.configs.views import ConfigScopedView
from apps.fleet import selectors, services
from apps.fleet.models import Rollout
from apps.fleet.serializers import (
    LABEL_FILTER_PATTERN,
    ConvergenceSerializer,
    InstancesQuerySerializer,
    NamespaceInstancesSerializer,
    RolloutCreateSerializer,
    RolloutSerializer,
)

LABEL_PARAMETER = OpenApiParameter(
    "label", str, OpenApiParameter.QUERY, many=True, pattern=LABEL_FILTER_PATTERN, allow_blank=False,
    description="key=value; repeat for several (all must match).",
)


class NamespaceInstancesView(NamespaceScopedView):
    @extend_schema(parameters=[LABEL_PARAMETER], responses=NamespaceInstancesSerializer)
    def get(self, request, tenant, environment, service):
        query = InstancesQuerySerializer(data={"label": request.query_params.getlist("label")})
        query.is_valid(raise_exception=True)
        labels = query.labels()
        revision = self.namespace.revision
        stale_since = selectors.stale_before()
        instances = []
        summary = dict.fromkeys(selectors.STATUSES, 0)
        for instance in selectors.namespace_instances(self.namespace, labels=labels):
            instance.status = selectors.instance_status(instance, revision=revision, stale_since=stale_since)
            summary[instance.status] += 1
            instances.append(instance)
        return Response(NamespaceInstancesSerializer({
            "namespace": self.namespace.path, "revision": revision, "summary": summary, "instances": instances,
        }).data)


class RevisionConvergenceView(NamespaceScopedView):
    @extend_schema(responses=ConvergenceSerializer)
    def get(self, request, tenant, environment, service, revision):
        return Response(ConvergenceSerializer(selectors.revision_convergence(self.namespace, revision)).data)


def rollout_data(rollout: Rollout) -> dict:
    cohort = selectors.rollout_cohort(rollout)
    rollout.cohort = {"members": len(cohort.members), "acked": len(cohort.acked), "rejections": cohort.rejections}
    return RolloutSerializer(rollout).data


class ConfigRolloutsView(ConfigScopedView):
    @extend_schema(responses=RolloutSerializer(many=True))
    def get(self, request, tenant, environment, service, name):
        return Response([rollout_data(rollout) for rollout in selectors.config_rollouts(self.namespace, name)])

    @extend_schema(request=RolloutCreateSerializer, responses={201: RolloutSerializer})
    def post(self, request, tenant, environment, service, name):
        serializer = RolloutCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        rollout = services.rollout_start(
            namespace=self.namespace, name=name, value=data["value"], stages=data["stages"],
            max_rejected=data.get("auto_rollback", {}).get("max_rejected", 0), comment=data["comment"],
            context=self.change_context(),
        )
        return Response(rollout_data(rollout), status=status.HTTP_201_CREATED)


class RolloutDetailView(ConfigScopedView):
    @extend_schema(responses=RolloutSerializer)
    def get(self, request, tenant, environment, service, name, rollout_id):
        return Response(rollout_data(selectors.rollout_get(self.namespace, name, rollout_id)))


class RolloutPromoteView(ConfigScopedView):
    @extend_schema(request=None, responses=RolloutSerializer)
    def post(self, request, tenant, environment, service, name, rollout_id):
        selectors.rollout_get(self.namespace, name, rollout_id)
        rollout = services.rollout_promote(namespace=self.namespace, rollout_id=rollout_id,
                                           context=self.change_context())
        return Response(rollout_data(rollout))


class RolloutAbortView(ConfigScopedView):
    @extend_schema(request=None, responses=RolloutSerializer)
    def post(self, request, tenant, environment, service, name, rollout_id):
        selectors.rollout_get(self.namespace, name, rollout_id)
        context = self.change_context()
        rollout = services.rollout_withdraw(
            namespace=self.namespace, rollout_id=rollout_id, state=Rollout.State.ABORTED,
            reason=f"Aborted by {context.actor_username}.", context=context,
        )
        return Response(rollout_data(rollout))
