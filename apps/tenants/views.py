from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied as DRFPermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.services import ChangeContext
from apps.errors import NotFound
from apps.tenants import selectors, services
from apps.tenants.models import Namespace, ServiceToken
from apps.tenants.roles import Role
from apps.tenants.serializers import (
    NamespaceCreateSerializer,
    NamespaceSerializer,
    RoleGrantResultSerializer,
    RoleGrantSerializer,
    ServiceTokenCreateSerializer,
    ServiceTokenSecretSerializer,
    ServiceTokenSerializer,
    TenantSerializer,
)

NO_CONTENT = OpenApiResponse(description="Done.")


class NamespaceScopedView(APIView):
    """Base of every view under /namespaces/{tenant}/{environment}/{service}/:
    resolves the namespace once and checks the caller's role on it, so that a
    namespace the caller may not see is 404 and a missing role is 403."""

    read_role = Role.VIEWER
    write_role = Role.EDITOR
    namespace: Namespace
    role: Role

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        if getattr(self, "swagger_fake_view", False):
            return
        minimum = self.read_role if request.method in ("GET", "HEAD", "OPTIONS") else self.write_role
        self.namespace, self.role = selectors.namespace_for(
            request.user,
            tenant=kwargs["tenant"],
            environment=kwargs["environment"],
            service=kwargs["service"],
            minimum=minimum,
        )

    def change_context(self) -> ChangeContext:
        return ChangeContext.from_request(self.request)


class TenantListCreateView(APIView):
    @extend_schema(responses=TenantSerializer(many=True))
    def get(self, request):
        tenants = selectors.tenants_visible_to(request.user).order_by("slug")
        return Response(TenantSerializer(tenants, many=True).data)

    @extend_schema(request=TenantSerializer, responses={201: TenantSerializer})
    def post(self, request):
        if not request.user.is_superuser:
            raise DRFPermissionDenied("Only platform staff create tenants.")
        serializer = TenantSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tenant = services.tenant_create(**serializer.validated_data, context=ChangeContext.from_request(request))
        return Response(TenantSerializer(tenant).data, status=status.HTTP_201_CREATED)


class TenantNamespaceCreateView(APIView):
    @extend_schema(request=NamespaceCreateSerializer, responses={201: NamespaceSerializer})
    def post(self, request, tenant):
        owner = selectors.tenant_for(request.user, slug=tenant, minimum=Role.ADMIN)
        serializer = NamespaceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        namespace = services.namespace_create(
            tenant=owner, **serializer.validated_data, context=ChangeContext.from_request(request)
        )
        return Response(NamespaceSerializer(namespace).data, status=status.HTTP_201_CREATED)


class TenantMemberView(APIView):
    @extend_schema(request=RoleGrantSerializer, responses={200: RoleGrantResultSerializer})
    def put(self, request, tenant, username):
        owner = selectors.tenant_for(request.user, slug=tenant, minimum=Role.ADMIN)
        serializer = RoleGrantSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = Role.from_label(serializer.validated_data["role"])
        user = selectors.user_by_username(username)
        services.role_grant(target=owner, user=user, role=role, context=ChangeContext.from_request(request))
        return Response({"username": user.username, "role": role.label, "scope": owner.slug})

    @extend_schema(request=None, responses={204: NO_CONTENT})
    def delete(self, request, tenant, username):
        owner = selectors.tenant_for(request.user, slug=tenant, minimum=Role.ADMIN)
        user = selectors.user_by_username(username)
        services.role_revoke(target=owner, user=user, context=ChangeContext.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class NamespaceListView(ListAPIView):
    serializer_class = NamespaceSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Namespace.objects.none()
        return selectors.namespaces_visible_to(self.request.user).order_by("path")


class NamespaceMemberView(NamespaceScopedView):
    read_role = write_role = Role.ADMIN

    @extend_schema(request=RoleGrantSerializer, responses={200: RoleGrantResultSerializer})
    def put(self, request, tenant, environment, service, username):
        serializer = RoleGrantSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = Role.from_label(serializer.validated_data["role"])
        user = selectors.user_by_username(username)
        services.role_grant(target=self.namespace, user=user, role=role, context=self.change_context())
        return Response({"username": user.username, "role": role.label, "scope": self.namespace.path})

    @extend_schema(request=None, responses={204: NO_CONTENT})
    def delete(self, request, tenant, environment, service, username):
        user = selectors.user_by_username(username)
        services.role_revoke(target=self.namespace, user=user, context=self.change_context())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ServiceTokenListCreateView(NamespaceScopedView):
    read_role = write_role = Role.ADMIN

    @extend_schema(responses=ServiceTokenSerializer(many=True))
    def get(self, request, tenant, environment, service):
        tokens = ServiceToken.objects.filter(namespace=self.namespace).select_related("namespace", "created_by")
        return Response(ServiceTokenSerializer(tokens, many=True).data)

    @extend_schema(request=ServiceTokenCreateSerializer, responses={201: ServiceTokenSecretSerializer})
    def post(self, request, tenant, environment, service):
        serializer = ServiceTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, secret = services.service_token_create(
            namespace=self.namespace, name=serializer.validated_data["name"], context=self.change_context()
        )
        token.token = secret
        return Response(ServiceTokenSecretSerializer(token).data, status=status.HTTP_201_CREATED)


class ServiceTokenRevokeView(NamespaceScopedView):
    read_role = write_role = Role.ADMIN

    @extend_schema(request=None, responses={204: NO_CONTENT})
    def delete(self, request, tenant, environment, service, token_id):
        token = ServiceToken.objects.filter(namespace=self.namespace, pk=token_id).first()
        if token is None:
            raise NotFound("Token not found.")
        services.service_token_revoke(token=token, context=self.change_context())
        return Response(status=status.HTTP_204_NO_CONTENT)

