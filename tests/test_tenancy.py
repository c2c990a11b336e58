"""Tenant-wide grants, and bodies that try to reach into another tenant."""

import pytest

from apps.configs.models import Configuration
from apps.configs.services import config_set
from apps.tenants.models import Namespace
from apps.tenants.services import service_token_create
from tests.conftest import body

pytestmark = pytest.mark.django_db


def test_tenant_grant__namespace_created_after_it__is_covered(make_user, make_namespace, grant, client_for):
    first = make_namespace()
    user = make_user()
    grant(user, first.tenant, "editor")
    later = make_namespace(tenant=first.tenant, environment="staging", service="search")
    client = client_for(user)
    response = client.put(f"/api/v1/namespaces/{later.path}/configs/x/", {"value": 1}, format="json")
    assert response.status_code == 201


def test_tenant_grant__revoked__access_ends_at_once(make_user, make_namespace, grant, client_for):
    namespace = make_namespace()
    admin, user = make_user(), make_user()
    grant(admin, namespace.tenant, "admin")
    grant(user, namespace.tenant, "viewer")
    client = client_for(user)
    url = f"/api/v1/namespaces/{namespace.path}/configs/"
    assert client.get(url).status_code == 200
    revoked = client_for(admin).delete(f"/api/v1/tenants/{namespace.tenant.slug}/members/{user.username}/")
    assert revoked.status_code == 204
    assert client.get(url).status_code == 404


def test_namespace_grant__viewer__cannot_reach_sibling_namespace(make_user, make_namespace, grant, client_for):
    namespace = make_namespace()
    sibling = make_namespace(tenant=namespace.tenant, environment="staging")
    user = make_user()
    grant(user, namespace, "viewer")
    assert client_for(user).get(f"/api/v1/namespaces/{sibling.path}/configs/").status_code == 404


@pytest.fixture
def two_tenants(make_user, make_namespace, grant, client_for, change_context):
    mine, theirs = make_namespace(), make_namespace()
    config_set(namespace=theirs, name="secret", value="theirs", context=change_context)
    user = make_user()
    grant(user, mine.tenant, "admin")
    return client_for(user), mine, theirs


@pytest.mark.parametrize(
    "method, path, payload",
    [
        ("put", "configs/x/", {"value": 1, "namespace": "{theirs}"}),
        ("put", "configs/x/", {"value": 1, "namespace_id": "{theirs_id}"}),
        ("post", "configs/secret/rollback/", {"to_version": 1, "namespace": "{theirs}"}),
        ("post", "tokens/", {"name": "t", "namespace": "{theirs}"}),
        ("put", "members/{user}/", {"role": "admin", "tenant": "{theirs_tenant}"}),
    ],
)
def test_body__naming_another_tenants_namespace__400_and_nothing_changes(two_tenants, method, path, payload):
    client, mine, theirs = two_tenants
    fill = {"theirs": theirs.path, "theirs_id": theirs.pk, "theirs_tenant": theirs.tenant.slug, "user": "nobody"}
    data = {key: value.format(**fill) if isinstance(value, str) else value for key, value in payload.items()}
    before = (Configuration.objects.count(), Namespace.objects.get(pk=theirs.pk).revision)
    response = getattr(client, method)(f"/api/v1/namespaces/{mine.path}/{path.format(**fill)}", data, format="json")
    assert response.status_code == 400, body(response)
    assert (Configuration.objects.count(), Namespace.objects.get(pk=theirs.pk).revision) == before


def test_url__another_tenants_namespace_and_token_id__404_and_nothing_changes(two_tenants, change_context):
    client, mine, theirs = two_tenants
    token, _ = service_token_create(namespace=theirs, name="theirs", context=change_context)
    assert client.put(f"/api/v1/namespaces/{theirs.path}/configs/secret/", {"value": "mine"},
                      format="json").status_code == 404
    assert client.delete(f"/api/v1/namespaces/{mine.path}/tokens/{token.pk}/").status_code == 404
    assert client.post(f"/api/v1/tenants/{theirs.tenant.slug}/namespaces/",
                       {"environment": "x", "service": "y"}, format="json").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert Configuration.objects.get(namespace=theirs, name="secret", is_active=True).value == "theirs"
