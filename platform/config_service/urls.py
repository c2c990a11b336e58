from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from apps.audit.views import AuditEventListView
from apps.configs import views as configs
from apps.tenants import views as tenants
from apps.tenants.models import NAMESPACE_ROUTE
from apps.webhooks import views as webhooks
from config_service.auth_tokens import LogoutView
from config_service.health import healthz, metrics, readyz
from config_service.throttling import (
    LoginPerIPThrottle,
    LoginPerUsernameThrottle,
    TokenRefreshPerIPThrottle,
    login_throttled,
)

NAMESPACE = NAMESPACE_ROUTE
CONFIG = NAMESPACE + "/configs/<str:name>"

api_v1 = [
    path(
        "auth/token/",
        TokenObtainPairView.as_view(throttle_classes=[LoginPerIPThrottle, LoginPerUsernameThrottle]),
        name="token-obtain",
    ),
    path(
        "auth/token/refresh/", TokenRefreshView.as_view(throttle_classes=[TokenRefreshPerIPThrottle]),
        name="token-refresh",
    ),
    path("auth/logout/", LogoutView.as_view(), name="token-logout"),
    path("tenants/", tenants.TenantListCreateView.as_view(), name="tenants"),
    path("tenants/<slug:tenant>/namespaces/", tenants.TenantNamespaceCreateView.as_view(), name="tenant-namespaces"),
    path("tenants/<slug:tenant>/members/<str:username>/", tenants.TenantMemberView.as_view(), name="tenant-member"),
    path("namespaces/", tenants.NamespaceListView.as_view(), name="namespaces"),
    path(NAMESPACE + "/configs/", configs.NamespaceConfigsView.as_view(), name="namespace-configs"),
    path(CONFIG + "/", configs.ConfigDetailView.as_view(), name="config"),
    path(CONFIG + "/versions/", configs.ConfigVersionListView.as_view(), name="config-versions"),
    path(CONFIG + "/versions/<int:version>/", configs.ConfigVersionDetailView.as_view(), name="config-version"),
    path(CONFIG + "/diff/", configs.ConfigDiffView.as_view(), name="config-diff"),
    path(CONFIG + "/rollback/", configs.ConfigRollbackView.as_view(), name="config-rollback"),
    path(NAMESPACE + "/export/", configs.NamespaceExportView.as_view(), name="namespace-export"),
    path(NAMESPACE + "/import/", configs.NamespaceImportView.as_view(), name="namespace-import"),
    path(NAMESPACE + "/members/<str:username>/", tenants.NamespaceMemberView.as_view(), name="namespace-member"),
    path(NAMESPACE + "/tokens/", tenants.ServiceTokenListCreateView.as_view(), name="namespace-tokens"),
    path(NAMESPACE + "/tokens/<int:token_id>/", tenants.ServiceTokenRevokeView.as_view(), name="namespace-token"),
    path(
        NAMESPACE + "/kafka-credentials/", tenants.KafkaCredentialsView.as_view(), name="namespace-kafka-credentials"
    ),
    path("audit/", AuditEventListView.as_view(), name="audit"),
    path("tenants/<slug:tenant>/webhooks/", webhooks.WebhookListCreateView.as_view(), name="tenant-webhooks"),
    path("tenants/<slug:tenant>/webhooks/<int:webhook_id>/", webhooks.WebhookDetailView.as_view(), name="tenant-webhook"),
    path(
        "tenants/<slug:tenant>/webhooks/<int:webhook_id>/test/", webhooks.WebhookTestView.as_view(),
        name="tenant-webhook-test",
    ),
    path(
        "tenants/<slug:tenant>/webhooks/<int:webhook_id>/deliveries/", webhooks.WebhookDeliveryListView.as_view(),
        name="tenant-webhook-deliveries",
    ),
]

urlpatterns = [
    path("api/configs/", configs.SpecConfigListView.as_view(), name="spec-configs"),
    path("api/configs/update/", configs.SpecConfigUpdateView.as_view(), name="spec-config-update"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    # Before the admin's own routes, so its sign-in has the API's limits.
    path("admin/login/", login_throttled(admin.site.login), name="admin-login"),
    path("admin/", admin.site.urls),
    path("ui/", include("apps.dashboard.urls")),
]

handler400 = "config_service.errors.json_bad_request"
handler403 = "config_service.errors.json_permission_denied"
handler404 = "config_service.errors.json_not_found"
handler500 = "config_service.errors.json_server_error"
