"""/api/v1/tenants/{tenant}/webhooks/: for the tenant's admins only."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.base import NO_CONTENT
from apps.change_context import ChangeContext
from apps.tenants.roles import Role
from apps.tenants.selectors import tenant_for
from apps.webhooks import selectors, services
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.serializers import (
    WebhookCreatedSerializer,
    WebhookDeliverySerializer,
    WebhookInputSerializer,
    WebhookSerializer,
    WebhookUpdateSerializer,
)


class TenantAdminView(APIView):
    def webhook(self, request, tenant: str, webhook_id: int):
        return selectors.webhook_of(tenant_for(request.user, slug=tenant, minimum=Role.ADMIN), webhook_id)


class WebhookListCreateView(TenantAdminView):
    @extend_schema(responses=WebhookSerializer(many=True))
    def get(self, request, tenant):
        owner = tenant_for(request.user, slug=tenant, minimum=Role.ADMIN)
        return Response(WebhookSerializer(selectors.webhooks_of(owner), many=True).data)

    @extend_schema(request=WebhookInputSerializer, responses={201: WebhookCreatedSerializer})
    def post(self, request, tenant):
        owner = tenant_for(request.user, slug=tenant, minimum=Role.ADMIN)
        serializer = WebhookInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook, generated = services.webhook_create(
            tenant=owner, **serializer.validated_data, context=ChangeContext.from_request(request)
        )
        webhook.signing_secret = generated
        return Response(WebhookCreatedSerializer(webhook).data, status=status.HTTP_201_CREATED)


class WebhookDetailView(TenantAdminView):
    @extend_schema(responses=WebhookSerializer)
    def get(self, request, tenant, webhook_id):
        return Response(WebhookSerializer(self.webhook(request, tenant, webhook_id)).data)

    @extend_schema(request=WebhookUpdateSerializer, responses=WebhookSerializer)
    def patch(self, request, tenant, webhook_id):
        webhook = self.webhook(request, tenant, webhook_id)
        serializer = WebhookUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook = services.webhook_update(
            webhook=webhook, **serializer.validated_data, context=ChangeContext.from_request(request)
        )
        return Response(WebhookSerializer(webhook).data)

    @extend_schema(request=None, responses={204: NO_CONTENT})
    def delete(self, request, tenant, webhook_id):
        webhook = self.webhook(request, tenant, webhook_id)
        services.webhook_delete(webhook=webhook, context=ChangeContext.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookTestView(TenantAdminView):
    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    def post(self, request, tenant, webhook_id):
        delivery = services.webhook_test(webhook=self.webhook(request, tenant, webhook_id))
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryListView(TenantAdminView, ListAPIView):
    serializer_class = WebhookDeliverySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookDelivery.objects.none()
        return selectors.deliveries_of(self.webhook(self.request, self.kwargs["tenant"], self.kwargs["webhook_id"]))
