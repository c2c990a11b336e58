"""Every endpoint × every kind of caller: who may do what, and what a caller
without access learns (nothing: 404, never another tenant's data)."""

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from apps.configs.services import config_set
from apps.tenants.services import service_token_create
from tests.conftest import bearer_client, body

pytestmark = pytest.mark.django_db

PRINCIPALS = ["anonymous", "other_tenant", "viewer", "editor", "admin", "service_token"]


@dataclass(frozen=True)
class Endpoint:
    method: str
    url: str  # {ns}, {tenant}, {member}, {token} are filled in per test
    minimum: str  # viewer | editor | admin | tenant_admin | superuser | any
    success: int
    data: dict | None = None


ENDPOINTS = [
    Endpoint("get", "/api/v1/namespaces/{ns}/configs/", "viewer", 200),
    Endpoint("get", "/api/v1/namespaces/{ns}/configs/seeded/", "viewer", 200),
    Endpoint("put", "/api/v1/namespaces/{ns}/configs/seeded/", "editor", 201, {"value": 2}),
    Endpoint("delete", "/api/v1/namespaces/{ns}/configs/seeded/", "editor", 204),
    Endpoint("get", "/api/v1/namespaces/{ns}/configs/seeded/versions/", "viewer", 200),
    Endpoint("get", "/api/v1/namespaces/{ns}/configs/seeded/versions/1/", "viewer", 200),
    Endpoint("get", "/api/v1/namespaces/{ns}/configs/seeded/diff/?from=1&to=1", "viewer", 200),
    Endpoint("post", "/api/v1/namespaces/{ns}/configs/seeded/rollback/", "editor", 201, {"to_version": 1}),
    Endpoint("put", "/api/v1/namespaces/{ns}/members/{member}/", "admin", 200, {"role": "viewer"}),
    Endpoint("delete", "/api/v1/namespaces/{ns}/members/{member}/", "admin", 204),
    Endpoint("get", "/api/v1/namespaces/{ns}/tokens/", "admin", 200),
    Endpoint("post", "/api/v1/namespaces/{ns}/tokens/", "admin", 201, {"name": "ci"}),
    Endpoint("delete", "/api/v1/namespaces/{ns}/tokens/{token}/", "admin", 204),
    Endpoint("post", "/api/v1/tenants/{tenant}/namespaces/", "tenant_admin", 201, {"environment": "qa", "service": "api"}),
    Endpoint("put", "/api/v1/tenants/{tenant}/members/{member}/", "tenant_admin", 200, {"role": "editor"}),
    Endpoint("delete", "/api/v1/tenants/{tenant}/members/{member}/", "tenant_admin", 204),
    Endpoint("post", "/api/v1/tenants/", "superuser", 201, {"slug": "newco"}),
    Endpoint("get", "/api/v1/tenants/", "any", 200),
    Endpoint("get", "/api/v1/namespaces/", "any", 200),
    Endpoint("get", "/api/v1/audit/", "any", 200),
    Endpoint("get", "/api/configs/", "default_viewer", 200),
    Endpoint("post", "/api/configs/update/", "default_editor", 201, {"name": "n", "value": 1}),
]

RANK = {"viewer": 1, "editor": 2, "admin": 3}


def expected_status(endpoint: Endpoint, principal: str) -> int:
    if principal == "anonymous":
        return 401
    if endpoint.minimum == "any":
        return endpoint.success
    if endpoint.minimum == "superuser":
        return 403
    if endpoint.minimum.startswith("default_"):
        # None of these callers holds a role on the default namespace.
        return 404
    if principal == "other_tenant":
        return 404
    if endpoint.minimum == "tenant_admin":
        return endpoint.success if principal == "admin" else 403
    if principal == "service_token":
        return endpoint.success if endpoint.minimum == "viewer" else 403
    return endpoint.success if RANK[principal] >= RANK[endpoint.minimum] else 403


@pytest.fixture
def world(make_user, make_namespace, grant, client_for, change_context):
    """Tenant A with one namespace and callers of every kind; tenant B's user."""
    namespace = make_namespace()
    tenant = namespace.tenant
    config_set(namespace=namespace, name="seeded", value=1, context=change_context)
    viewer, editor, admin, member = make_user(), make_user(), make_user(), make_user()
    grant(viewer, namespace, "viewer")
    grant(editor, namespace, "editor")
    grant(admin, tenant, "admin")
    grant(member, namespace, "viewer")
    grant(member, tenant, "viewer")
    other = make_user()
    grant(other, make_namespace().tenant, "admin")
    token, secret = service_token_create(namespace=namespace, name="svc", context=change_context)
    clients = {
        "anonymous": APIClient(),
        "other_tenant": client_for(other),
        "viewer": client_for(viewer),
        "editor": client_for(editor),
        "admin": client_for(admin),
        "service_token": bearer_client(secret),
    }
    fill = {"ns": namespace.path, "tenant": tenant.slug, "member": member.username, "token": token.pk}
    return clients, fill, namespace


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.url}")
def test_endpoint__each_kind_of_caller__answers_by_role(world, endpoint, principal):
    clients, fill, _ = world
    url = endpoint.url.format(**fill)
    response = getattr(clients[principal], endpoint.method)(url, endpoint.data, format="json")
    assert response.status_code == expected_status(endpoint, principal), body(response)
    if response.status_code >= 400:
        assert set(body(response)) == {"error"}


def test_lists__caller_of_another_tenant__never_see_its_data(world):
    clients, fill, namespace = world
    other = clients["other_tenant"]
    for url in ("/api/v1/namespaces/", "/api/v1/tenants/", "/api/v1/audit/?page_size=500"):
        text = other.get(url).content.decode()
        assert namespace.path not in text and fill["tenant"] not in text, url


def test_service_token__read_of_another_namespace__404(world, make_namespace):
    clients, fill, namespace = world
    sibling = make_namespace(tenant=namespace.tenant, environment="staging")
    response = clients["service_token"].get(f"/api/v1/namespaces/{sibling.path}/configs/")
    assert response.status_code == 404


def test_service_token__revoked__401(world, make_user, client_for):
    clients, fill, namespace = world
    assert clients["admin"].delete(f"/api/v1/namespaces/{namespace.path}/tokens/{fill['token']}/").status_code == 204
    assert clients["service_token"].get(f"/api/v1/namespaces/{namespace.path}/configs/").status_code == 401


def test_namespace_list__viewer__sees_exactly_the_granted_namespace(world):
    clients, _, namespace = world
    paths = [row["namespace"] for row in body(clients["viewer"].get("/api/v1/namespaces/"))["results"]]
    assert paths == [namespace.path]
