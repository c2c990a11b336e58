from django.contrib.auth import views as auth_views
from django.urls import path, register_converter

from apps.configs.models import config_name_errors
from apps.dashboard.views import (
    audit,
    auth,
    changes,
    configs,
    fleet,
    history,
    members,
    namespaces,
    secrets,
    tokens,
    webhooks,
)
from apps.tenants.models import NAMESPACE_ROUTE


class ConfigNameConverter:
    """A config name as the model allows it; any other is simply not a page."""

    regex = r"[^/]+"

    def to_python(self, value: str) -> str:
        if config_name_errors(value):
            raise ValueError(value)
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ConfigNameConverter, "configname")

app_name = "dashboard"

NAMESPACE = NAMESPACE_ROUTE + "/"
CONFIG = NAMESPACE + "configs/<configname:name>/"

urlpatterns = [
    path("login/", auth.ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", namespaces.namespace_list, name="namespaces"),
    path("audit/", audit.audit_log, name="audit"),
    path("webhooks/", webhooks.webhook_list, name="webhooks"),
    path("changes/", changes.change_request_list, name="change-requests"),
    path("changes/<int:change_request_id>/", changes.change_request_review, name="change-request"),
    path("compare/", changes.namespaces_compare, name="compare"),
    path(NAMESPACE, namespaces.namespace_detail, name="namespace"),
    path(NAMESPACE + "edit-several", changes.namespace_edit_several, name="namespace-edit-several"),
    path(NAMESPACE + "revision", namespaces.namespace_revision, name="namespace-revision"),
    path(NAMESPACE + "table", namespaces.namespace_table, name="namespace-table"),
    path(NAMESPACE + "configs/new", configs.config_add, name="config-add"),
    path(NAMESPACE + "members/", members.namespace_members, name="members"),
    path(NAMESPACE + "tokens/", tokens.namespace_tokens, name="tokens"),
    path(NAMESPACE + "fleet/", fleet.namespace_fleet, name="fleet"),
    path(CONFIG + "rollouts/<uuid:rollout_id>/", fleet.rollout_page, name="rollout"),
    path(CONFIG + "edit", configs.config_edit, name="config-edit"),
    path(CONFIG + "delete", configs.config_remove, name="config-delete"),
    path(CONFIG + "history", history.config_history, name="config-history"),
    path(CONFIG + "rollback", history.config_restore, name="config-rollback"),
    path(CONFIG + "reveal", secrets.config_reveal_page, name="config-reveal"),
]
