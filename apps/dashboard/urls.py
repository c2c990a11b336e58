from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.urls import path, register_converter

from apps.configs.models import CONFIG_NAME_MAX_LENGTH, config_name_validator
from apps.dashboard import views


class ConfigNameConverter:
    """A config name as config_name_validator allows it; any other is simply not a page."""

    regex = r"[^/]+"

    def to_python(self, value: str) -> str:
        try:
            config_name_validator(value)
        except ValidationError:
            raise ValueError(value) from None
        if len(value) > CONFIG_NAME_MAX_LENGTH:
            raise ValueError(value)
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ConfigNameConverter, "configname")

app_name = "dashboard"

NAMESPACE = "namespaces/<slug:tenant>/<slug:environment>/<slug:service>/"
CONFIG = NAMESPACE + "configs/<configname:name>/"

urlpatterns = [
    path("login/", views.ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.namespace_list, name="namespaces"),
    path("audit/", views.audit_log, name="audit"),
    path(NAMESPACE, views.namespace_detail, name="namespace"),
    path(NAMESPACE + "revision", views.namespace_revision, name="namespace-revision"),
    path(NAMESPACE + "table", views.namespace_table, name="namespace-table"),
    path(NAMESPACE + "configs/new", views.config_add, name="config-add"),
    path(NAMESPACE + "members/", views.namespace_members, name="members"),
    path(NAMESPACE + "tokens/", views.namespace_tokens, name="tokens"),
    path(CONFIG + "edit", views.config_edit, name="config-edit"),
    path(CONFIG + "delete", views.config_remove, name="config-delete"),
    path(CONFIG + "history", views.config_history, name="config-history"),
    path(CONFIG + "rollback", views.config_restore, name="config-rollback"),
]
