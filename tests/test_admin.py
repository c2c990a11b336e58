"""The Django admin: refused to non-staff, scoped to what a staff user
administers, audit events read-only, writes made through the services."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from apps.audit.models import AuditEvent
from apps.configs.models import Configuration
from apps.tenants import services as tenant_services
from apps.tenants.models import Namespace, ServiceToken
from apps.tenants.roles import Role, namespace_role, tenant_role

pytestmark = pytest.mark.django_db


def admin_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def new_token(change_context):
    def create(namespace: Namespace, name: str) -> ServiceToken:
        token, _secret = tenant_services.service_token_create(namespace=namespace, name=name, context=change_context)
        return token

    return create


@pytest.fixture
def two_tenants(make_namespace, new_token):
    """(A's namespace, B's namespace), each with a service token and audit events."""
    mine, theirs = make_namespace(service="mine"), make_namespace(service="theirs")
    new_token(mine, "mine-reader")
    new_token(theirs, "theirs-reader")
    return mine, theirs


@pytest.fixture
def tenant_admin(make_user, grant, two_tenants):
    """A staff user, without any Django model permission, admin of tenant A only."""
    mine, _theirs = two_tenants
    user = make_user(is_staff=True)
    grant(user, mine.tenant, "admin")
    return user


def test_admin_index__non_staff_user__redirects_to_login(make_user, grant, two_tenants):
    user = make_user()
    grant(user, two_tenants[0].tenant, "admin")
    response = admin_client(user).get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(
    "path",
    ["/admin/tenants/namespace/", "/admin/tenants/servicetoken/", "/admin/audit/auditevent/",
     "/admin/configs/configuration/"],
)
def test_admin_changelist__non_staff_user__redirects_to_login(make_user, grant, two_tenants, path):
    user = make_user()
    grant(user, two_tenants[0].tenant, "admin")
    response = admin_client(user).get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_admin_index__staff_without_any_role__lists_no_app(make_user, two_tenants):
    response = admin_client(make_user(is_staff=True)).get("/admin/")
    assert response.status_code == 200
    assert b"/admin/tenants/" not in response.content
    assert b"/admin/audit/" not in response.content


def test_admin_changelist__staff_without_any_role__403(make_user, two_tenants):
    response = admin_client(make_user(is_staff=True)).get("/admin/tenants/namespace/")
    assert response.status_code == 403


def test_admin_index__staff_tenant_admin__lists_the_apps(tenant_admin):
    response = admin_client(tenant_admin).get("/admin/")
    assert response.status_code == 200
    for changelist in ("/admin/tenants/namespace/", "/admin/tenants/servicetoken/",
                       "/admin/audit/auditevent/", "/admin/configs/configuration/"):
        assert changelist.encode() in response.content


@pytest.mark.parametrize(
    "path, shows",
    [
        ("/admin/tenants/namespace/", lambda namespace: namespace.path),
        ("/admin/tenants/tenant/", lambda namespace: namespace.tenant.slug),
        ("/admin/tenants/servicetoken/", lambda namespace: namespace.path),
        ("/admin/audit/auditevent/", lambda namespace: namespace.path),
    ],
)
def test_admin_changelist__staff_tenant_admin__shows_own_tenant_only(tenant_admin, two_tenants, path, shows):
    mine, theirs = two_tenants
    response = admin_client(tenant_admin).get(path)
    assert response.status_code == 200
    assert shows(mine).encode() in response.content
    assert shows(theirs).encode() not in response.content


def test_admin_configuration_changelist__staff_tenant_admin__shows_own_tenant_only(tenant_admin, two_tenants):
    mine, theirs = two_tenants
    Configuration.objects.create(namespace=mine, name="mine_flag", value=True, version=1, revision=99)
    Configuration.objects.create(namespace=theirs, name="theirs_flag", value=True, version=1, revision=99)
    response = admin_client(tenant_admin).get("/admin/configs/configuration/")
    assert response.status_code == 200
    assert b"mine_flag" in response.content
    assert b"theirs_flag" not in response.content


def test_admin_changelist__staff_namespace_admin__shows_that_namespace_only(
    make_user, grant, make_namespace, new_token
):
    mine = make_namespace(service="mine")
    sibling = make_namespace(tenant=mine.tenant, service="sibling")
    new_token(mine, "mine-reader")
    new_token(sibling, "sibling-reader")
    user = make_user(is_staff=True)
    grant(user, mine, "admin")
    client = admin_client(user)

    namespaces = client.get("/admin/tenants/namespace/")
    tokens = client.get("/admin/tenants/servicetoken/")

    assert mine.path.encode() in namespaces.content and sibling.path.encode() not in namespaces.content
    assert b"mine-reader" in tokens.content and b"sibling-reader" not in tokens.content
    # The tenant itself is administered by nobody here.
    assert client.get("/admin/tenants/tenant/").status_code == 403


@pytest.mark.parametrize("model", ["namespace", "tenant"])
def test_admin_change_view__other_tenants_object__not_shown(tenant_admin, two_tenants, model):
    _mine, theirs = two_tenants
    target = theirs if model == "namespace" else theirs.tenant
    response = admin_client(tenant_admin).get(f"/admin/tenants/{model}/{target.pk}/change/")
    # Django's answer to an object outside the admin's queryset: "does not exist", back to the index.
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert theirs.path.encode() not in response.content


def test_admin_change_view__other_tenants_audit_event__not_shown(tenant_admin, two_tenants):
    _mine, theirs = two_tenants
    event = AuditEvent.objects.filter(namespace=theirs).first()
    response = admin_client(tenant_admin).get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_admin_namespace_change_view__own_namespace__read_only_with_object_permissions_link(tenant_admin, two_tenants):
    mine, _theirs = two_tenants
    response = admin_client(tenant_admin).get(f"/admin/tenants/namespace/{mine.pk}/change/")
    assert response.status_code == 200
    assert mine.path.encode() in response.content
    assert b'name="_save"' not in response.content
    assert f"/admin/tenants/namespace/{mine.pk}/permissions/".encode() in response.content


def test_admin_namespace_change__post__refused_and_namespace_unchanged(tenant_admin, two_tenants):
    mine, _theirs = two_tenants
    response = admin_client(tenant_admin).post(
        f"/admin/tenants/namespace/{mine.pk}/change/", {"path": "x/y/z", "revision": 0}
    )
    assert response.status_code == 403
    assert Namespace.objects.get(pk=mine.pk).path == mine.path


def test_admin_namespace_add__anyone__refused(make_user):
    superuser = make_user(is_staff=True, is_superuser=True)
    response = admin_client(superuser).get("/admin/tenants/namespace/add/")
    assert response.status_code == 403


def test_admin_audit_changelist__tenant_admin__renders(tenant_admin, two_tenants):
    response = admin_client(tenant_admin).get("/admin/audit/auditevent/?action__exact=token.create")
    assert response.status_code == 200
    assert b"token.create" in response.content


def test_admin_audit_change_view__any_staff__no_save_button(make_user, two_tenants):
    superuser = make_user(is_staff=True, is_superuser=True)
    event = AuditEvent.objects.filter(namespace=two_tenants[0]).first()
    response = admin_client(superuser).get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert response.status_code == 200
    assert b'name="_save"' not in response.content
    assert b'name="_continue"' not in response.content


@pytest.mark.parametrize("superuser", [False, True])
def test_admin_audit_event__post_change_or_delete__refused_and_row_unchanged(
    make_user, grant, two_tenants, superuser
):
    mine, _theirs = two_tenants
    user = make_user(is_staff=True, is_superuser=superuser)
    grant(user, mine.tenant, "admin")
    event = AuditEvent.objects.filter(namespace=mine).first()
    before = AuditEvent.objects.filter(pk=event.pk).values().get()
    client = admin_client(user)

    change = client.post(
        f"/admin/audit/auditevent/{event.pk}/change/",
        {"actor_username": "someone-else", "action": "config.set", "target": "forged"},
    )
    delete = client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"})
    bulk_delete = client.post(
        "/admin/audit/auditevent/", {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    add = client.post("/admin/audit/auditevent/add/", {"actor_username": "forged", "action": "config.set"})

    assert change.status_code == 403
    assert delete.status_code == 403
    assert add.status_code == 403
    assert bulk_delete.status_code == 200  # no actions: the POST only shows the list again
    assert AuditEvent.objects.filter(pk=event.pk).values().get() == before
    assert not AuditEvent.objects.filter(actor_username="forged").exists()


def test_admin_token_revoke_action__active_token__revoked_with_one_audit_event(tenant_admin, two_tenants):
    mine, _theirs = two_tenants
    token = ServiceToken.objects.get(namespace=mine)

    response = admin_client(tenant_admin).post(
        "/admin/tenants/servicetoken/", {"action": "revoke_tokens", "_selected_action": [token.pk]}
    )

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    events = AuditEvent.objects.filter(action="token.revoke", target=str(token.pk))
    assert events.count() == 1
    assert events.get().actor_username == tenant_admin.username
    assert events.get().namespace == mine


def test_admin_token_revoke_action__other_tenants_token__left_active(tenant_admin, two_tenants):
    _mine, theirs = two_tenants
    token = ServiceToken.objects.get(namespace=theirs)

    admin_client(tenant_admin).post(
        "/admin/tenants/servicetoken/", {"action": "revoke_tokens", "_selected_action": [token.pk]}
    )

    token.refresh_from_db()
    assert token.revoked_at is None
    assert not AuditEvent.objects.filter(action="token.revoke", target=str(token.pk)).exists()


def test_admin_token_revoke_action__revoked_token__no_second_audit_event(tenant_admin, two_tenants, change_context):
    mine, _theirs = two_tenants
    token = ServiceToken.objects.get(namespace=mine)
    tenant_services.service_token_revoke(token=token, context=change_context)

    admin_client(tenant_admin).post(
        "/admin/tenants/servicetoken/", {"action": "revoke_tokens", "_selected_action": [token.pk]}
    )

    assert AuditEvent.objects.filter(action="token.revoke", target=str(token.pk)).count() == 1


def test_admin_token__add_or_change__refused(tenant_admin, two_tenants):
    mine, _theirs = two_tenants
    token = ServiceToken.objects.get(namespace=mine)
    client = admin_client(tenant_admin)
    assert client.get("/admin/tenants/servicetoken/add/").status_code == 403
    response = client.post(f"/admin/tenants/servicetoken/{token.pk}/change/", {"name": "renamed"})
    assert response.status_code == 403
    assert ServiceToken.objects.get(pk=token.pk).name == token.name


@pytest.mark.parametrize(
    "path",
    ["/admin/tenants/namespace/", "/admin/tenants/tenant/", "/admin/tenants/servicetoken/", "/admin/audit/auditevent/"],
)
def test_admin_changelist__superuser__shows_every_tenant(make_user, two_tenants, path):
    mine, theirs = two_tenants
    superuser = make_user(is_staff=True, is_superuser=True)
    response = admin_client(superuser).get(path)
    assert response.status_code == 200
    for namespace in (mine, theirs):
        expected = namespace.tenant.slug if path == "/admin/tenants/tenant/" else namespace.path
        assert expected.encode() in response.content


def test_admin_configuration_add__tenant_admin__writes_a_version_through_config_set(tenant_admin, two_tenants):
    mine, _theirs = two_tenants
    revision = Namespace.objects.get(pk=mine.pk).revision

    response = admin_client(tenant_admin).post(
        "/admin/configs/configuration/add/",
        {"namespace": mine.pk, "name": "timeout_ms", "value": '{"read": 250}', "comment": "from the admin"},
    )

    assert response.status_code == 302
    created = Configuration.objects.get(namespace=mine, name="timeout_ms")
    assert (created.value, created.version, created.is_active) == ({"read": 250}, 1, True)
    assert created.created_by == tenant_admin
    assert created.revision == revision + 1
    event = AuditEvent.objects.get(action="config.set", namespace=mine, target="timeout_ms")
    assert event.actor_username == tenant_admin.username


def test_admin_configuration_add__existing_name__new_active_version(tenant_admin, two_tenants):
    mine, _theirs = two_tenants
    client = admin_client(tenant_admin)
    for value in ("1", "2"):
        response = client.post(
            "/admin/configs/configuration/add/", {"namespace": mine.pk, "name": "retries", "value": value}
        )
        assert response.status_code == 302

    versions = Configuration.objects.filter(namespace=mine, name="retries").order_by("version")
    assert [(row.version, row.value, row.is_active) for row in versions] == [(1, 1, False), (2, 2, True)]


def test_admin_configuration_add__other_tenants_namespace__refused_and_nothing_written(tenant_admin, two_tenants):
    _mine, theirs = two_tenants
    response = admin_client(tenant_admin).post(
        "/admin/configs/configuration/add/", {"namespace": theirs.pk, "name": "sneaky", "value": "1"}
    )
    assert response.status_code == 200  # the form again, with an error on the namespace
    assert not Configuration.objects.filter(name="sneaky").exists()


def test_admin_configuration_add__null_value__form_error_and_nothing_written(tenant_admin, two_tenants):
    mine, _theirs = two_tenants
    response = admin_client(tenant_admin).post(
        "/admin/configs/configuration/add/", {"namespace": mine.pk, "name": "nothing", "value": "null"}
    )
    assert response.status_code == 200
    assert not Configuration.objects.filter(name="nothing").exists()


def test_admin_configuration_change__post__refused(tenant_admin, two_tenants):
    mine, _theirs = two_tenants
    row = Configuration.objects.create(namespace=mine, name="flag", value=True, version=1, revision=99)
    response = admin_client(tenant_admin).post(
        f"/admin/configs/configuration/{row.pk}/change/", {"namespace": mine.pk, "name": "flag", "value": "false"}
    )
    assert response.status_code == 403
    assert Configuration.objects.get(pk=row.pk).value is True


def test_admin_role_page__tenant_admin__grants_a_role_through_role_grant(tenant_admin, two_tenants, make_user):
    mine, _theirs = two_tenants
    colleague = make_user()
    client = admin_client(tenant_admin)

    # The admin names the colleague on the object's role page, then picks a role.
    chosen = client.post(f"/admin/tenants/namespace/{mine.pk}/permissions/",
                         {"user": colleague.username, "submit_manage_user": "1"})
    assert chosen.status_code == 302 and chosen["Location"].endswith(f"/user-manage/{colleague.pk}/")
    response = client.post(
        f"/admin/tenants/namespace/{mine.pk}/permissions/user-manage/{colleague.pk}/", {"role": "editor"}
    )

    assert response.status_code == 302
    assert namespace_role(colleague, mine) == Role.EDITOR
    event = AuditEvent.objects.get(action="role.grant", namespace=mine, target=colleague.username)
    assert event.after == {"role": "editor"} and event.actor_username == tenant_admin.username


def test_admin_role_page__no_role_chosen__revoked_through_role_revoke(tenant_admin, two_tenants, make_user, grant):
    mine, _theirs = two_tenants
    colleague = make_user()
    grant(colleague, mine.tenant, "viewer")

    response = admin_client(tenant_admin).post(
        f"/admin/tenants/tenant/{mine.tenant.pk}/permissions/user-manage/{colleague.pk}/", {"role": ""}
    )

    assert response.status_code == 302
    assert tenant_role(colleague, mine.tenant) is None
    assert AuditEvent.objects.filter(action="role.revoke", tenant=mine.tenant, target=colleague.username).count() == 1


def test_admin_role_page__other_tenants_namespace__not_found_and_no_grant(tenant_admin, two_tenants, make_user):
    _mine, theirs = two_tenants
    colleague = make_user()

    response = admin_client(tenant_admin).post(
        f"/admin/tenants/namespace/{theirs.pk}/permissions/user-manage/{colleague.pk}/", {"role": "admin"}
    )

    assert response.status_code == 404
    assert namespace_role(colleague, theirs) is None


def test_admin_role_page__group_grant__refused(tenant_admin, two_tenants):
    mine, _theirs = two_tenants
    group = Group.objects.create(name="ops")
    response = admin_client(tenant_admin).post(
        f"/admin/tenants/namespace/{mine.pk}/permissions/group-manage/{group.pk}/", {"permissions": ["view_configs"]}
    )
    assert response.status_code == 403


@pytest.mark.parametrize("superuser", [False, True])
def test_admin_pages__admin_of_the_objects__render(make_user, grant, two_tenants, superuser):
    mine, _theirs = two_tenants
    user = make_user(is_staff=True, is_superuser=superuser)
    grant(user, mine.tenant, "admin")
    row = Configuration.objects.create(namespace=mine, name="flag", value={"on": True}, version=1, revision=99)
    token = ServiceToken.objects.get(namespace=mine)
    event = AuditEvent.objects.filter(namespace=mine).first()
    client = admin_client(user)
    pages = [
        "/admin/",
        "/admin/tenants/",
        "/admin/tenants/environment/",
        "/admin/tenants/service/",
        f"/admin/tenants/environment/{mine.environment.pk}/change/",
        f"/admin/tenants/tenant/{mine.tenant.pk}/change/",
        f"/admin/tenants/tenant/{mine.tenant.pk}/permissions/",
        f"/admin/tenants/namespace/{mine.pk}/permissions/",
        f"/admin/tenants/namespace/{mine.pk}/permissions/user-manage/{user.pk}/",
        f"/admin/tenants/servicetoken/{token.pk}/change/",
        "/admin/configs/configuration/add/",
        f"/admin/configs/configuration/{row.pk}/change/",
        f"/admin/audit/auditevent/{event.pk}/change/",
        f"/admin/audit/auditevent/{event.pk}/history/",
    ]
    for page in pages:
        assert client.get(page).status_code == 200, page


def test_admin_role_page__group_chosen_on_the_object_page__form_error_and_no_redirect(tenant_admin, two_tenants):
    mine, _theirs = two_tenants
    Group.objects.create(name="ops")
    response = admin_client(tenant_admin).post(
        f"/admin/tenants/namespace/{mine.pk}/permissions/", {"group": "ops", "submit_manage_group": "1"}
    )
    assert response.status_code == 200
    assert b"group grants have no audited path" in response.content


def test_admin_configuration_add__namespace_choices__only_administered_namespaces(tenant_admin, two_tenants):
    mine, theirs = two_tenants
    response = admin_client(tenant_admin).get("/admin/configs/configuration/add/")
    assert mine.path.encode() in response.content
    assert theirs.path.encode() not in response.content


def test_admin_configuration_add__namespace_full__message_and_whole_write_rolled_back(
    tenant_admin, two_tenants, settings
):
    mine, _theirs = two_tenants
    settings.CONFIGS_PER_NAMESPACE_MAX = 0
    revision = Namespace.objects.get(pk=mine.pk).revision
    client = admin_client(tenant_admin)

    response = client.post("/admin/configs/configuration/add/", {"namespace": mine.pk, "name": "one", "value": "1"})

    assert response.status_code == 302 and response["Location"] == "/admin/configs/configuration/add/"
    assert b"the most allowed" in client.get(response["Location"]).content
    assert not Configuration.objects.filter(namespace=mine).exists()
    assert Namespace.objects.get(pk=mine.pk).revision == revision
    assert not AuditEvent.objects.filter(action="config.set", namespace=mine).exists()


def test_admin_namespace_protect_action__tenant_admin__protected_and_audited_namespace_admin_skipped(
    tenant_admin, two_tenants, make_user, grant
):
    mine, _theirs = two_tenants
    response = admin_client(tenant_admin).post(
        "/admin/tenants/namespace/", {"action": "protect", "_selected_action": [mine.pk]}
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.required_approvals == 1
    assert AuditEvent.objects.filter(action="namespace.protect", namespace=mine).count() == 1
    namespace_admin = make_user(is_staff=True)
    grant(namespace_admin, mine, "admin")
    admin_client(namespace_admin).post("/admin/tenants/namespace/", {"action": "unprotect", "_selected_action": [mine.pk]})
    mine.refresh_from_db()
    assert mine.required_approvals == 1
