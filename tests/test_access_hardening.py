"""Access hardening (issue 16, points 10-13): audit visibility, no username
enumeration, sessions that end, and a tenant that cannot lock itself out."""

from __future__ import annotations

import threading

import jwt
import pytest
from django.db import connection, connections, transaction
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from apps.errors import Conflict
from apps.tenants import services as tenant_services
from apps.tenants.models import Tenant
from apps.tenants.roles import Role, tenant_role
from tests.conftest import bearer_client, body, unique_slug

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough password 1"


# --- 10. Audit visibility -------------------------------------------------


@pytest.fixture
def audited_tenant(make_namespace, make_user, grant):
    """(namespace one, its sibling, the user made tenant admin): a tenant whose
    audit log holds tenant-level events and events of two namespaces."""
    one = make_namespace(service="one")
    sibling = make_namespace(tenant=one.tenant, service="sibling")
    promoted = make_user()
    grant(promoted, one.tenant, "admin")  # a tenant-level event: who was made tenant admin
    grant(make_user(), one, "editor")
    grant(make_user(), sibling, "editor")
    return one, sibling, promoted


def audit_of(client: APIClient) -> list[dict]:
    response = client.get("/api/v1/audit/", {"page_size": 500})
    assert response.status_code == 200, body(response)
    return body(response)["results"]


def test_audit__viewer_of_one_namespace__its_events_only_no_tenant_level_ones(
    audited_tenant, make_user, grant, client_for
):
    one, _sibling, promoted = audited_tenant
    viewer = make_user()
    grant(viewer, one, "viewer")

    events = audit_of(client_for(viewer))

    assert events and {event["namespace"] for event in events} == {one.path}
    assert promoted.username not in {event["target"] for event in events}


def test_audit__service_token__its_namespace_events_only(audited_tenant, change_context):
    one, _sibling, promoted = audited_tenant
    _, secret = tenant_services.service_token_create(namespace=one, name="reader", context=change_context)

    events = audit_of(bearer_client(secret))

    assert events and {event["namespace"] for event in events} == {one.path}
    assert promoted.username not in {event["target"] for event in events}


def test_audit__tenant_wide_viewer__tenant_level_events_too(audited_tenant, make_user, grant, client_for):
    one, sibling, promoted = audited_tenant
    viewer = make_user()
    grant(viewer, one.tenant, "viewer")

    events = audit_of(client_for(viewer))

    assert {one.path, sibling.path, None} <= {event["namespace"] for event in events}
    assert promoted.username in {event["target"] for event in events if event["namespace"] is None}


# --- 11. No username enumeration ------------------------------------------


@pytest.fixture
def tenant_admin_client(make_namespace, make_user, grant, client_for):
    namespace = make_namespace()
    admin = make_user()
    grant(admin, namespace.tenant, "admin")
    return client_for(admin), namespace, admin


@pytest.mark.parametrize("scope", ["tenant", "namespace"])
def test_member_delete__unknown_user_and_other_tenants_user__same_answer(tenant_admin_client, make_user, scope):
    client, namespace, _admin = tenant_admin_client
    outsider = make_user()  # exists, but holds no role in this tenant
    unknown = unique_slug("nobody")
    base = f"/api/v1/tenants/{namespace.tenant.slug}" if scope == "tenant" else f"/api/v1/namespaces/{namespace.path}"

    answers = [client.delete(f"{base}/members/{name}/") for name in (outsider.username, unknown)]

    assert [answer.status_code for answer in answers] == [404, 404]
    outsider_body = body(answers[0])
    unknown_body = body(answers[1])
    assert outsider_body == {**unknown_body, "error": {
        **unknown_body["error"], "message": unknown_body["error"]["message"].replace(unknown, outsider.username)
    }}


def test_admin_role_page__user_id_outside_the_tenant__404_without_the_name(make_namespace, make_user, grant):
    namespace = make_namespace()
    admin = make_user(is_staff=True)
    grant(admin, namespace.tenant, "admin")
    outsider = make_user()
    client = Client()
    client.force_login(admin)

    for page in (f"/admin/tenants/tenant/{namespace.tenant.pk}/permissions/user-manage/{outsider.pk}/",
                 f"/admin/tenants/namespace/{namespace.pk}/permissions/user-manage/{outsider.pk}/"):
        response = client.get(page)
        assert response.status_code == 404, page
        assert outsider.username.encode() not in response.content


# --- 12. Sessions end ------------------------------------------------------


@pytest.fixture
def signed_in(make_user):
    """(user, refresh token from a real sign-in)."""
    user = make_user(password=PASSWORD)
    response = APIClient().post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD},
                                format="json")
    assert response.status_code == 200, body(response)
    return user, body(response)["refresh"]


def refresh(token: str):
    return APIClient().post("/api/v1/auth/token/refresh/", {"refresh": token}, format="json")


def test_refresh__password_changed_anywhere__401(signed_in):
    user, token = signed_in
    user.set_password("another long password 2")
    user.save()

    assert refresh(token).status_code == 401


def test_refresh__password_set_in_the_admin__every_refresh_token_blacklisted(signed_in, make_user):
    user, token = signed_in
    staff = make_user(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)

    new = "another long password 2"
    response = client.post(f"/admin/auth/user/{user.pk}/password/",
                           {"password1": new, "password2": new, "usable_password": "true"})

    assert response.status_code == 302
    assert BlacklistedToken.objects.filter(token__user=user).count() == 1
    assert refresh(token).status_code == 401


def admin_change_form(user, **changes) -> dict:
    """The admin's user change form as a browser posts it, with changes."""
    joined = user.date_joined
    data = {
        "username": user.username, "first_name": "", "last_name": "", "email": "",
        "is_active": "on", "date_joined_0": joined.strftime("%Y-%m-%d"), "date_joined_1": joined.strftime("%H:%M:%S"),
        "initial-date_joined_0": joined.strftime("%Y-%m-%d"), "initial-date_joined_1": joined.strftime("%H:%M:%S"),
        "last_login_0": "", "last_login_1": "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_refresh__deactivated_in_the_admin_then_reactivated__401(signed_in, make_user):
    user, token = signed_in
    staff = make_user(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)

    deactivated = client.post(f"/admin/auth/user/{user.pk}/change/", admin_change_form(user, is_active=None))
    assert deactivated.status_code == 302
    user.refresh_from_db()
    assert not user.is_active
    user.is_active = True
    user.save()

    assert refresh(token).status_code == 401


def test_refresh__rotated_again_and_again__never_past_the_absolute_lifetime(make_user, settings):
    settings.REFRESH_TOKEN_ABSOLUTE_SECONDS = 120
    user = make_user(password=PASSWORD)
    token = body(APIClient().post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD},
                                  format="json"))["refresh"]
    started = jwt.decode(token, options={"verify_signature": False})["auth_time"]

    for _ in range(3):
        response = refresh(token)
        assert response.status_code == 200, body(response)
        token = body(response)["refresh"]
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["auth_time"] == started
        assert claims["exp"] <= started + 120


# --- 13. Last admin, and a tenant created twice at once ---------------------


def test_tenant_member__last_admin_removes_or_lowers_own_role__409_and_role_kept(tenant_admin_client):
    client, namespace, admin = tenant_admin_client
    members = f"/api/v1/tenants/{namespace.tenant.slug}/members/{admin.username}/"

    removed = client.delete(members)
    lowered = client.put(members, {"role": "editor"}, format="json")

    assert (removed.status_code, lowered.status_code) == (409, 409), (body(removed), body(lowered))
    assert body(removed)["error"]["code"] == "conflict"
    assert tenant_role(admin, namespace.tenant) == Role.ADMIN


def test_tenant_member__another_admin_left__own_role_removed_204(tenant_admin_client, make_user, grant):
    client, namespace, admin = tenant_admin_client
    grant(make_user(), namespace.tenant, "admin")

    response = client.delete(f"/api/v1/tenants/{namespace.tenant.slug}/members/{admin.username}/")

    assert response.status_code == 204
    assert tenant_role(admin, namespace.tenant) is None


def test_tenant_create__same_slug_twice_at_once__one_tenant_and_409(transactional_db, change_context):
    slug = unique_slug("race")
    first_created, first_may_commit = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first():
        try:
            with transaction.atomic():
                tenant_services.tenant_create(slug=slug, context=change_context)
                first_created.set()
                first_may_commit.wait(30)
        finally:
            connections.close_all()

    def second():
        try:
            tenant_services.tenant_create(slug=slug, context=change_context)
            outcome["second"] = "created"
        except Exception as exc:  # noqa: BLE001 - whatever it raises is the finding
            outcome["second"] = exc
        finally:
            connections.close_all()

    one, two = threading.Thread(target=first), threading.Thread(target=second)
    one.start()
    assert first_created.wait(30)
    two.start()
    # Once the second creation waits on the first's uncommitted row, the first commits.
    with connection.cursor() as cursor:
        for _ in range(600):
            cursor.execute("SELECT count(*) FROM pg_stat_activity"
                           " WHERE wait_event_type = 'Lock' AND datname = current_database()")
            if cursor.fetchone()[0]:
                break
            two.join(0.05)
    first_may_commit.set()
    one.join(30)
    two.join(30)

    assert isinstance(outcome["second"], Conflict), repr(outcome["second"])
    assert Tenant.objects.filter(slug=slug).count() == 1


def test_tenant_create__taken_slug__409_through_the_api(make_user, client_for):
    staff = client_for(make_user(is_superuser=True))
    slug = unique_slug("taken")
    assert staff.post("/api/v1/tenants/", {"slug": slug}, format="json").status_code == 201
    response = staff.post("/api/v1/tenants/", {"slug": slug}, format="json")
    assert response.status_code == 409 and "slug" in body(response)["error"]["fields"]
