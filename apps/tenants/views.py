from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.base import NO_CONTENT, NamespaceScopedView
from apps.api.permissions import IsPlatformStaff
from apps.change_context import ChangeContext
from apps.configs.outbox import outbox_wait_published
from apps.errors import PermissionDenied
from apps.tenants import selectors, services
from apps.tenants.models import Namespace
from apps.tenants.roles import Role, ServicePrincipal
from apps.tenants.serializers import (
    KafkaCredentialsRequestSerializer,
    KafkaCredentialsSerializer,
    NamespaceCreateSerializer,
    NamespaceSerializer,
    RoleGrantResultSerializer,
    RoleGrantSerializer,
    ServiceTokenCreateSerializer,
    ServiceTokenSecretSerializer,
    ServiceTokenSerializer,
    TenantSerializer,
)


class TenantListCreateView(APIView):
    def get_permissions(self):
        # Anyone signed in lists the tenants they belong to; creating one is for platform staff.
        extra = [IsPlatformStaff()] if self.request.method == "POST" else []
        return [*super().get_permissions(), *extra]

    @extend_schema(responses=TenantSerializer(many=True))
    def get(self, request):
        tenants = selectors.tenants_visible_to(request.user).order_by("slug")
        return Response(TenantSerializer(tenants, many=True).data)

    @extend_schema(request=TenantSerializer, responses={201: TenantSerializer})
    def post(self, request):
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
        user = selectors.member_by_username(owner, username)
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
        user = selectors.member_by_username(self.namespace, username)
        services.role_revoke(target=self.namespace, user=user, context=self.change_context())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ServiceTokenListCreateView(NamespaceScopedView):
    read_role = write_role = Role.ADMIN

    @extend_schema(responses=ServiceTokenSerializer(many=True))
    def get(self, request, tenant, environment, service):
        return Response(ServiceTokenSerializer(selectors.service_tokens_of(self.namespace), many=True).data)

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
        token = selectors.service_token_of(self.namespace, token_id)
        services.service_token_revoke(token=token, context=self.change_context())
        return Response(status=status.HTTP_204_NO_CONTENT)



class KafkaCredentialsView(NamespaceScopedView):
    """The calling service token's Kafka credentials: its own principal, which
    may read its tenant's config topic and nothing else."""

    read_role = write_role = Role.VIEWER

    @extend_schema(request=KafkaCredentialsRequestSerializer, responses={200: KafkaCredentialsSerializer})
    def post(self, request, tenant, environment, service):
        if not isinstance(request.user, ServicePrincipal):
            raise PermissionDenied("Kafka credentials are issued to service tokens; people read through the API.")
        serializer = KafkaCredentialsRequestSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        credentials, pending = services.service_token_kafka_credentials(
            token_id=request.user.token_id, namespace=self.namespace,
            rotate=serializer.validated_data["rotate"], context=self.change_context(),
        )
        # Answer once the relay has made them work at the broker, so a client
        # can log in at once; if it is slow, the client retries on failure.
        outbox_wait_published(pending, timeout=settings.KAFKA_CREDENTIALS_WAIT_SECONDS)
        return Response(KafkaCredentialsSerializer(credentials).data)
