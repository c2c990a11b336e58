from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.base import NamespaceScopedView
from apps.change_context import ChangeContext
from apps.changes import change_requests, promotion, selectors, services
from apps.changes.models import ChangeRequest
from apps.changes.serializers import (
    ChangeRequestDetailSerializer,
    ChangeRequestFilterSerializer,
    ChangeRequestSerializer,
    ChangesetCreateSerializer,
    ChangesetSerializer,
    ComparedNameSerializer,
    CompareQuerySerializer,
    CompareSerializer,
    PromoteResultSerializer,
    PromoteSerializer,
    ProtectionSerializer,
    ReviewCreateSerializer,
)
from apps.tenants.roles import Role
from apps.tenants.selectors import tenant_for


def change_request_answer(change_request: ChangeRequest, status_code: int = status.HTTP_200_OK) -> Response:
    change_request.diff = selectors.change_request_diff(change_request)
    return Response(ChangeRequestDetailSerializer(change_request).data, status=status_code)


class ChangesetCreateView(APIView):
    @extend_schema(request=ChangesetCreateSerializer, responses={201: ChangesetSerializer})
    def post(self, request):
        serializer = ChangesetCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changeset = services.changeset_apply(**serializer.validated_data, context=ChangeContext.from_request(request))
        return Response(ChangesetSerializer(changeset).data, status=status.HTTP_201_CREATED)


class ChangesetDetailView(APIView):
    @extend_schema(responses=ChangesetSerializer)
    def get(self, request, changeset_id):
        return Response(ChangesetSerializer(selectors.changeset_for(request.user, changeset_id)).data)


class ChangeRequestListCreateView(ListAPIView):
    """Change requests touching only namespaces the caller sees, newest first."""

    serializer_class = ChangeRequestSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ChangeRequest.objects.none()
        query = ChangeRequestFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.change_requests_visible_to(self.request.user, **query.validated_data)

    @extend_schema(parameters=[ChangeRequestFilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=ChangesetCreateSerializer, responses={201: ChangeRequestDetailSerializer})
    def post(self, request):
        serializer = ChangesetCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        change_request = change_requests.change_request_open(
            **serializer.validated_data, context=ChangeContext.from_request(request)
        )
        return change_request_answer(change_request, status.HTTP_201_CREATED)


class ChangeRequestDetailView(APIView):
    @extend_schema(responses=ChangeRequestDetailSerializer)
    def get(self, request, change_request_id):
        return change_request_answer(selectors.change_request_for(request.user, change_request_id))


class ChangeRequestReviewView(APIView):
    """approve/ and reject/: one review each, by an editor who is not the author."""

    verdict: str

    @extend_schema(request=ReviewCreateSerializer, responses=ChangeRequestDetailSerializer)
    def post(self, request, change_request_id):
        serializer = ReviewCreateSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        change_request = change_requests.change_request_review(
            change_request_id=change_request_id, verdict=self.verdict, comment=serializer.validated_data["comment"],
            context=ChangeContext.from_request(request),
        )
        return change_request_answer(change_request)


class ChangeRequestApproveView(ChangeRequestReviewView):
    verdict = "approve"


class ChangeRequestRejectView(ChangeRequestReviewView):
    verdict = "reject"


class ChangeRequestStepView(APIView):
    """apply/ (by the author or an admin, once approved) and withdraw/ (by the author)."""

    step = None

    @extend_schema(request=None, responses=ChangeRequestDetailSerializer)
    def post(self, request, change_request_id):
        change_request = self.step(change_request_id=change_request_id, context=ChangeContext.from_request(request))
        return change_request_answer(change_request)


class ChangeRequestApplyView(ChangeRequestStepView):
    step = staticmethod(change_requests.change_request_apply)


class ChangeRequestWithdrawView(ChangeRequestStepView):
    step = staticmethod(change_requests.change_request_withdraw)


class CompareView(APIView):
    @extend_schema(parameters=[CompareQuerySerializer], responses=CompareSerializer)
    def get(self, request):
        query = CompareQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        source = selectors.namespace_by_path(request.user, query.validated_data["from"], Role.VIEWER)
        target = selectors.namespace_by_path(request.user, query.validated_data["to"], Role.VIEWER)
        compared = selectors.namespaces_compare(source, target)
        return Response({"from": source.path, "to": target.path,
                         "configs": ComparedNameSerializer(compared, many=True).data})


class PromoteView(APIView):
    @extend_schema(request=PromoteSerializer, responses={201: PromoteResultSerializer})
    def post(self, request):
        serializer = PromoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        source = selectors.namespace_by_path(request.user, data["from"], Role.VIEWER)
        target = selectors.namespace_by_path(request.user, data["to"], Role.EDITOR)
        made = promotion.promote(source=source, target=target, names=data.get("names"), comment=data["comment"],
                                context=ChangeContext.from_request(request))
        if isinstance(made, ChangeRequest):
            made.diff = selectors.change_request_diff(made)
            body = {"kind": "change_request", "changeset": None,
                    "change_request": ChangeRequestDetailSerializer(made).data}
        else:
            body = {"kind": "changeset", "changeset": ChangesetSerializer(made).data, "change_request": None}
        return Response(body, status=status.HTTP_201_CREATED)


class NamespaceProtectionView(NamespaceScopedView):
    """Whether the namespace takes changes only through change requests; set by a tenant admin."""

    write_role = Role.VIEWER  # the tenant-wide admin role is checked below

    @extend_schema(responses=ProtectionSerializer)
    def get(self, request, tenant, environment, service):
        return Response({"required_approvals": self.namespace.required_approvals})

    @extend_schema(request=ProtectionSerializer, responses=ProtectionSerializer)
    def put(self, request, tenant, environment, service):
        tenant_for(request.user, slug=tenant, minimum=Role.ADMIN)
        serializer = ProtectionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        namespace = services.namespace_protect(
            namespace=self.namespace, required_approvals=serializer.validated_data["required_approvals"],
            context=self.change_context(),
        )
        return Response({"required_approvals": namespace.required_approvals})
