from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from apps.audit.views import AuditEventListView
from apps.changes import views as changes
from apps.configs import schema_views as config_schemas
from apps.configs import views as configs
from apps.fleet import views as fleet
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
    path(CONFIG + "/schema/", config_schemas.ConfigSchemaView.as_view(), name="config-schema"),
    path(NAMESPACE + "/export/", configs.NamespaceExportView.as_view(), name="namespace-export"),
    path(NAMESPACE + "/import/", configs.NamespaceImportView.as_view(), name="namespace-import"),
    path(NAMESPACE + "/members/<str:username>/", tenants.NamespaceMemberView.as_view(), name="namespace-member"),
    path(NAMESPACE + "/tokens/", tenants.ServiceTokenListCreateView.as_view(), name="namespace-tokens"),
    path(NAMESPACE + "/tokens/<int:token_id>/", tenants.ServiceTokenRevokeView.as_view(), name="namespace-token"),
    path(
        NAMESPACE + "/kafka-credentials/", tenants.KafkaCredentialsView.as_view(), name="namespace-kafka-credentials"
    ),
    path(NAMESPACE + "/instances/", fleet.NamespaceInstancesView.as_view(), name="namespace-instances"),
    path(NAMESPACE + "/revisions/<int:revision>/convergence/", fleet.RevisionConvergenceView.as_view(),
         name="revision-convergence"),
    path(CONFIG + "/rollouts/", fleet.ConfigRolloutsView.as_view(), name="config-rollouts"),
    path(CONFIG + "/rollouts/<uuid:rollout_id>/", fleet.RolloutDetailView.as_view(), name="config-rollout"),
    path(CONFIG + "/rollouts/<uuid:rollout_id>/promote/", fleet.RolloutPromoteView.as_view(),
         name="config-rollout-promote"),
    path(CONFIG + "/rollouts/<uuid:rollout_id>/abort/", fleet.RolloutAbortView.as_view(), name="config-rollout-abort"),
    path("audit/", AuditEventListView.as_view(), name="audit"),
    path(NAMESPACE + "/protection/", changes.NamespaceProtectionView.as_view(), name="namespace-protection"),
    path("changesets/", changes.ChangesetCreateView.as_view(), name="changesets"),
    path("changesets/<int:changeset_id>/", changes.ChangesetDetailView.as_view(), name="changeset"),
    path("change-requests/", changes.ChangeRequestListCreateView.as_view(), name="change-requests"),
    path("change-requests/<int:change_request_id>/", changes.ChangeRequestDetailView.as_view(), name="change-request"),
    path("change-requests/<int:change_request_id>/approve/", changes.ChangeRequestApproveView.as_view(),
         name="change-request-approve"),
    path("change-requests/<int:change_request_id>/reject/", changes.ChangeRequestRejectView.as_view(),
         name="change-request-reject"),
    path("change-requests/<int:change_request_id>/apply/", changes.ChangeRequestApplyView.as_view(),
         name="change-request-apply"),
    path("change-requests/<int:change_request_id>/withdraw/", changes.ChangeRequestWithdrawView.as_view(),
         name="change-request-withdraw"),
    path("compare/", changes.CompareView.as_view(), name="compare"),
    path("promote/", changes.PromoteView.as_view(), name="promote"),
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
