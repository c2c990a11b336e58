"""The dashboard's pages. Thin, like the API views: the namespace and the
caller's role come from the tenants selectors, every read from a selector and
every write from a service, so the page can hide controls but the server decides."""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from config_service.errors import error_body
from config_service.throttling import LoginPerIPThrottle, LoginPerUsernameThrottle
from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponseNotModified, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.audit.selectors import audit_events_filtered
from apps.audit.services import ChangeContext
from apps.configs.models import Configuration, config_name_validator
from apps.configs.selectors import config_current, config_version, config_versions, namespace_snapshot
from apps.configs.services import config_delete, config_rollback, config_set
from apps.configs.views import etag_matches, quoted
from apps.dashboard.diffs import ValueDiff
from apps.dashboard.forms import (
    AuditFilterForm,
    ConfigAddForm,
    ConfigChangeForm,
    ConfigDeleteForm,
    ConfigRollbackForm,
    RoleGrantForm,
    RoleRevokeForm,
    ServiceTokenCreateForm,
    ServiceTokenRevokeForm,
    VersionDiffForm,
    canonical_json,
    value_kind,
    value_text,
)
from apps.errors import DomainError, NotFound, PermissionDenied, PreconditionFailed
from apps.tenants.models import Namespace
from apps.tenants.roles import Role, role_holders
from apps.tenants.selectors import namespace_for, namespaces_visible_to, user_by_username
from apps.tenants.services import role_grant, role_revoke, service_token_create, service_token_revoke


class ThrottledLoginView(auth_views.LoginView):
    """Sign-in with the API login's limits, per address and per username."""

    template_name = "dashboard/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        for throttle in (LoginPerIPThrottle(), LoginPerUsernameThrottle()):
            if not throttle.allow_request(request, self):
                wait = max(1, int(throttle.wait() or 1))
                form = self.get_form()
                form.add_error(None, f"Too many sign-in attempts; try again in {wait} seconds.")
                response = self.form_invalid(form)
                response.status_code = 429
                response["Retry-After"] = str(wait)
                return response
        return super().post(request, *args, **kwargs)


HISTORY_PAGE_SIZE = 50
AUDIT_PAGE_SIZE = 50


@dataclass(frozen=True)
class NamespaceAccess:
    """A namespace the signed-in person may see, and their role on it."""

    namespace: Namespace
    role: Role

    @property
    def can_edit(self) -> bool:
        return self.role >= Role.EDITOR

    @property
    def can_admin(self) -> bool:
        return self.role >= Role.ADMIN

    @property
    def is_production(self) -> bool:
        return self.namespace.environment.is_production

    def url(self, view: str, *extra) -> str:
        return reverse(f"dashboard:{view}", args=[*self.namespace.path.split("/"), *extra])


def error_page(request, error: DomainError):
    return render(request, "dashboard/error.html", {"error": error}, status=error.status)


def namespace_page(minimum: Role):
    """Resolves the namespace of the URL for the signed-in person with at least
    that role: one they may not see is a 404 page, a missing role a 403 page."""

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapper(request, tenant: str, environment: str, service: str, **kwargs):
            try:
                namespace, role = namespace_for(
                    request.user, tenant=tenant, environment=environment, service=service, minimum=minimum
                )
            except (NotFound, PermissionDenied) as error:
                return error_page(request, error)
            return view(request, NamespaceAccess(namespace, role), **kwargs)

        return wrapper

    return decorate


def add_domain_error(form: forms.Form, error: DomainError) -> None:
    """The service's field errors next to the fields the form has, the rest on top."""
    for field, field_messages in (error.fields or {}).items():
        for message in field_messages:
            form.add_error(field if field in form.fields else None, message)
    if not error.fields:
        form.add_error(None, error.message)


def production_confirmed(access: NamespaceAccess, form: forms.Form) -> bool:
    if access.is_production and not form.cleaned_data.get("confirm_production"):
        form.add_error("confirm_production", f"Tick this box to change {access.namespace.path}, a production namespace.")
        return False
    return True


# Namespaces


@require_GET
@login_required
def namespace_list(request):
    namespaces = namespaces_visible_to(request.user).order_by("tenant__slug", "environment__slug", "service__slug")
    return render(request, "dashboard/namespace_list.html", {"namespaces": namespaces})


def _config_rows(access: NamespaceAccess) -> tuple[int, list[dict]]:
    revision, configs = namespace_snapshot(access.namespace)
    for config in configs:
        config["kind"] = value_kind(config["value"])
        config["text"] = value_text(config["value"], config["kind"])
    return revision, configs


def _table_context(access: NamespaceAccess) -> dict:
    revision, configs = _config_rows(access)
    return {"access": access, "namespace": access.namespace, "revision": revision, "configs": configs}


@require_GET
@namespace_page(Role.VIEWER)
def namespace_detail(request, access: NamespaceAccess):
    return render(request, "dashboard/namespace_detail.html", _table_context(access))


@require_GET
@namespace_page(Role.VIEWER)
def namespace_table(request, access: NamespaceAccess):
    """The configs table alone, for the page's refresh after the revision changed."""
    return render(request, "dashboard/_config_table.html", _table_context(access))


@require_GET
def namespace_revision(request, tenant: str, environment: str, service: str):
    """The namespace revision, cheap to poll: 304 while If-None-Match still names it."""
    if not request.user.is_authenticated:
        return JsonResponse(error_body("not_authenticated", "Sign in again."), status=401)
    try:
        namespace, _ = namespace_for(
            request.user, tenant=tenant, environment=environment, service=service, minimum=Role.VIEWER
        )
    except DomainError as error:
        return JsonResponse(error_body(error.code, error.message), status=error.status)
    etag = quoted(namespace.revision)
    if etag_matches(request, etag):
        response = HttpResponseNotModified()
    else:
        response = JsonResponse({"namespace": namespace.path, "revision": namespace.revision})
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache"
    return response


# Changing a value: preview, then save exactly what was previewed.


def _change_page(request, access: NamespaceAccess, *, form: ConfigChangeForm, name: str,
                 current: Configuration | None, diff: ValueDiff | None = None, status: int = 200,
                 adding: bool = False):
    """The edit (or add) page: the form as the person left it and, once previewed, the diff."""
    data = form.cleaned_data if form.is_bound and hasattr(form, "cleaned_data") else {}
    kind = data.get("kind") or form.data.get("kind") or (value_kind(current.value) if current else "string")
    context = {
        "access": access,
        "namespace": access.namespace,
        "name": name,
        "current": current,
        "form": form,
        "adding": adding,
        "name_rule": config_name_validator.message,
        "diff": diff,
        "kind": kind,
        "text": form.data.get("value", "") if form.is_bound else value_text(current.value, kind) if current else "",
        "comment": form.data.get("comment", "") if form.is_bound else "",
        "expected_version": data.get("expected_version", current.version if current else None),
        "previewed": canonical_json(data["parsed_value"]) if "parsed_value" in data else "",
    }
    if diff is not None and "parsed_value" in data:
        context["text"] = value_text(data["parsed_value"], kind)
    return render(request, "dashboard/config_change.html", context, status=status)


def _apply_change(request, access: NamespaceAccess, *, form: ConfigChangeForm, name: str,
                  current: Configuration | None, adding: bool = False):
    if not form.is_valid():
        return _change_page(request, access, form=form, name=name, current=current, status=400, adding=adding)
    value = form.cleaned_data["parsed_value"]
    diff = ValueDiff(before=current.value if current else None, after=value, before_exists=current is not None)
    if not form.is_save:
        return _change_page(request, access, form=form, name=name, current=current, diff=diff, adding=adding)
    if not production_confirmed(access, form):
        return _change_page(request, access, form=form, name=name, current=current, diff=diff, status=400,
                            adding=adding)
    try:
        config = config_set(
            namespace=access.namespace, name=name, value=value, comment=form.cleaned_data["comment"],
            expected_version=form.cleaned_data["expected_version"], context=ChangeContext.from_request(request),
        )
    except PreconditionFailed:
        # Show the value as it is now, so a second save is made knowingly.
        now = _latest(access.namespace, name)
        form.add_error(None, f"{name} was changed by someone else since you opened it. The preview below now "
                             "compares with the current value; save again to overwrite it.")
        form.cleaned_data["expected_version"] = now.version if now else 0
        current = now if now is not None and now.is_active else None
        diff = ValueDiff(before=current.value if current else None, after=value, before_exists=current is not None)
        return _change_page(request, access, form=form, name=name, current=current, diff=diff, status=412,
                            adding=adding)
    except DomainError as error:
        add_domain_error(form, error)
        return _change_page(request, access, form=form, name=name, current=current, diff=diff,
                            status=error.status, adding=adding)
    messages.success(request, f"Saved {name}: version {config.version}.")
    return redirect(access.url("namespace"))


def _latest(namespace: Namespace, name: str) -> Configuration | None:
    """The newest version of a name, a deletion included."""
    return config_versions(namespace, name).first()


@require_http_methods(["GET", "POST"])
@namespace_page(Role.EDITOR)
def config_edit(request, access: NamespaceAccess, name: str):
    try:
        current = config_current(access.namespace, name)
    except NotFound as error:
        return error_page(request, error)
    if request.method == "GET":
        return _change_page(request, access, form=ConfigChangeForm(), name=name, current=current)
    return _apply_change(request, access, form=ConfigChangeForm(request.POST), name=name, current=current)


@require_http_methods(["GET", "POST"])
@namespace_page(Role.EDITOR)
def config_add(request, access: NamespaceAccess):
    if request.method == "GET":
        return _change_page(request, access, form=ConfigAddForm(), name="", current=None, adding=True)
    form = ConfigAddForm(request.POST)
    if not form.is_valid():
        return _change_page(request, access, form=form, name=form.data.get("name", ""), current=None, status=400,
                            adding=True)
    name = form.cleaned_data["name"]
    latest = _latest(access.namespace, name)
    if latest is not None and latest.is_active and form.cleaned_data["expected_version"] is None:
        form.add_error("name", f"{name} exists already; edit it from the namespace page.")
        return _change_page(request, access, form=form, name=name, current=None, status=400, adding=True)
    if form.cleaned_data["expected_version"] is None:
        # A name deleted earlier goes on from its tombstone's version.
        form.cleaned_data["expected_version"] = latest.version if latest else 0
    return _apply_change(request, access, form=form, name=name, current=None, adding=True)


def _delete_page(request, access: NamespaceAccess, *, name: str, current: Configuration, form, status=200):
    return render(request, "dashboard/config_delete.html", {
        "access": access, "namespace": access.namespace, "name": name, "current": current, "form": form,
    }, status=status)


@require_http_methods(["GET", "POST"])
@namespace_page(Role.EDITOR)
def config_remove(request, access: NamespaceAccess, name: str):
    try:
        current = config_current(access.namespace, name)
    except NotFound as error:
        return error_page(request, error)
    if request.method == "GET":
        return _delete_page(request, access, name=name, current=current, form=ConfigDeleteForm())
    form = ConfigDeleteForm(request.POST)
    if not form.is_valid() or not production_confirmed(access, form):
        return _delete_page(request, access, name=name, current=current, form=form, status=400)
    try:
        config_delete(
            namespace=access.namespace, name=name, comment=form.cleaned_data["comment"],
            expected_version=form.cleaned_data["expected_version"], context=ChangeContext.from_request(request),
        )
    except PreconditionFailed:
        # `current` was read after the other change: the page now shows what would be deleted.
        form.add_error(None, f"{name} was changed by someone else since you opened this page. The value below "
                             "is the current one; delete again if it should still go.")
        return _delete_page(request, access, name=name, current=current, form=form, status=412)
    except DomainError as error:
        add_domain_error(form, error)
        return _delete_page(request, access, name=name, current=current, form=form, status=error.status)
    messages.success(request, f"Deleted {name}. Its history is kept.")
    return redirect(access.url("namespace"))


# History and rollback


def _history_page(request, access: NamespaceAccess, name: str, *, rollback_form=None, status=200):
    versions = config_versions(access.namespace, name)
    latest = versions.first()
    if latest is None:
        return error_page(request, NotFound(f"No config named {name!r} in {access.namespace.path}."))
    page = Paginator(versions, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    choice = VersionDiffForm(request.GET)
    diff, older, newer = None, None, None
    if choice.is_valid():
        newer_number = choice.cleaned_data["to_version"] or latest.version
        older_number = choice.cleaned_data["from_version"] or max(newer_number - 1, 1)
        try:
            older = config_version(access.namespace, name, older_number)
            newer = config_version(access.namespace, name, newer_number)
        except NotFound as error:
            choice.add_error(None, error.message)
        else:
            diff = ValueDiff(before=older.value, after=newer.value,
                             before_exists=not older.is_tombstone, after_exists=not newer.is_tombstone)
    if choice.errors and status == 200:
        status = 400
    return render(request, "dashboard/config_history.html", {
        "access": access, "namespace": access.namespace, "name": name, "latest": latest, "page": page,
        "all_versions": range(latest.version, 0, -1), "choice": choice, "diff": diff, "older": older,
        "newer": newer, "rollback_form": rollback_form,
    }, status=status)


@require_GET
@namespace_page(Role.VIEWER)
def config_history(request, access: NamespaceAccess, name: str):
    return _history_page(request, access, name)


@require_POST
@namespace_page(Role.EDITOR)
def config_restore(request, access: NamespaceAccess, name: str):
    form = ConfigRollbackForm(request.POST)
    if not form.is_valid() or not production_confirmed(access, form):
        return _history_page(request, access, name, rollback_form=form, status=400)
    try:
        config = config_rollback(
            namespace=access.namespace, name=name, to_version=form.cleaned_data["to_version"],
            comment=form.cleaned_data["comment"], expected_version=form.cleaned_data["expected_version"],
            context=ChangeContext.from_request(request),
        )
    except PreconditionFailed:
        form.add_error(None, f"{name} was changed by someone else since this page was loaded; "
                             "check the history below and roll back again.")
        return _history_page(request, access, name, rollback_form=form, status=412)
    except DomainError as error:
        add_domain_error(form, error)
        return _history_page(request, access, name, rollback_form=form, status=error.status)
    messages.success(request, f"Rolled {name} back to version {form.cleaned_data['to_version']}: "
                              f"now version {config.version}.")
    return redirect(access.url("config-history", name))


# Audit


@require_GET
@login_required
def audit_log(request):
    form = AuditFilterForm(request.GET)
    if form.is_valid():
        events, status = audit_events_filtered(request.user, **form.cleaned_data), 200
    else:
        events, status = audit_events_filtered(request.user).none(), 400
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "dashboard/audit.html", {"form": form, "page": page, "query": query.urlencode()},
                  status=status)


# Members and service tokens (admins)


@require_http_methods(["GET", "POST"])
@namespace_page(Role.ADMIN)
def namespace_members(request, access: NamespaceAccess):
    grant_form, revoke_form, status = RoleGrantForm(), None, 200
    if request.method == "POST":
        revoking = request.POST.get("action") == "revoke"
        form = RoleRevokeForm(request.POST) if revoking else RoleGrantForm(request.POST)
        status = 400
        if form.is_valid():
            context = ChangeContext.from_request(request)
            try:
                user = user_by_username(form.cleaned_data["username"])
                if revoking:
                    role_revoke(target=access.namespace, user=user, context=context)
                else:
                    role = Role.from_label(form.cleaned_data["role"])
                    role_grant(target=access.namespace, user=user, role=role, context=context)
            except DomainError as error:
                form.add_error("username", error.message)
                status = error.status
            else:
                done = "Revoked the role of" if revoking else f"Granted {form.cleaned_data['role']} to"
                messages.success(request, f"{done} {user.username} on {access.namespace.path}.")
                return redirect(access.url("members"))
        grant_form, revoke_form = (grant_form, form) if revoking else (form, None)
    return render(request, "dashboard/members.html", {
        "access": access, "namespace": access.namespace, "grant_form": grant_form, "revoke_form": revoke_form,
        "namespace_members": role_holders(access.namespace), "tenant_members": role_holders(access.namespace.tenant),
    }, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
@namespace_page(Role.ADMIN)
def namespace_tokens(request, access: NamespaceAccess):
    create_form, revoke_form, status = ServiceTokenCreateForm(), None, 200
    new_token, secret = None, None
    if request.method == "POST":
        revoking = request.POST.get("action") == "revoke"
        form = ServiceTokenRevokeForm(request.POST) if revoking else ServiceTokenCreateForm(request.POST)
        status = 400
        if form.is_valid():
            context = ChangeContext.from_request(request)
            try:
                if revoking:
                    # Only this namespace's tokens: another namespace's id is simply not found.
                    token = access.namespace.tokens.filter(pk=form.cleaned_data["token_id"]).first()
                    if token is None:
                        raise NotFound("No such token in this namespace.")
                    service_token_revoke(token=token, context=context)
                    messages.success(request, f"Revoked the token {token.name} ({token.prefix}…).")
                    return redirect(access.url("tokens"))
                new_token, secret = service_token_create(
                    namespace=access.namespace, name=form.cleaned_data["name"], context=context
                )
                # The secret is shown on this response only: no redirect, nothing stored.
                status = 201
            except DomainError as error:
                add_domain_error(form, error)
                status = error.status
        if revoking:
            revoke_form = form
        elif secret is None:
            create_form = form
    tokens = access.namespace.tokens.select_related("created_by")
    return render(request, "dashboard/tokens.html", {
        "access": access, "namespace": access.namespace, "tokens": tokens, "create_form": create_form,
        "revoke_form": revoke_form, "secret": secret, "new_token": new_token,
    }, status=status)
