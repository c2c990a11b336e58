"""The snapshot's conditional-GET fast path (apps/api/fast_paths.py): an
unchanged snapshot is answered 304 in one statement, with the same headers as
the view's own 304, and everything it cannot decide gets the view's answer."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from guardian.shortcuts import assign_perm
from rest_framework_simplejwt.tokens import AccessToken

from apps.configs.services import config_set
from apps.metrics import HTTP_REQUESTS
from apps.tenants.services import role_revoke, service_token_create, service_token_revoke
from tests.conftest import bearer_client, views_alone

pytestmark = pytest.mark.django_db



def snapshot_url(namespace) -> str:
    return f"/api/v1/namespaces/{namespace.path}/configs/"


@pytest.fixture
def viewer(make_user, make_namespace, grant):
    """(client with a JWT, namespace, user, current ETag) for a viewer of a fresh namespace."""
    namespace, user = make_namespace(), make_user()
    grant(user, namespace, "viewer")
    client = bearer_client(str(AccessToken.for_user(user)))
    return client, namespace, user, client.get(snapshot_url(namespace))["ETag"]


@pytest.fixture
def token_reader(make_namespace, change_context):
    """(client with a service token, namespace, token, current ETag); its first use recorded."""
    namespace = make_namespace()
    token, secret = service_token_create(namespace=namespace, name="poller", context=change_context)
    client = bearer_client(secret)
    return client, namespace, token, client.get(snapshot_url(namespace))["ETag"]


def test_snapshot_304__viewer_jwt__one_statement_and_the_views_headers(viewer, django_assert_num_queries):
    client, namespace, _, etag = viewer
    with django_assert_num_queries(1):
        fast = client.get(snapshot_url(namespace), HTTP_IF_NONE_MATCH=etag, HTTP_X_REQUEST_ID="poll-1")
    with views_alone(client):
        slow = client.get(snapshot_url(namespace), HTTP_IF_NONE_MATCH=etag, HTTP_X_REQUEST_ID="poll-1")

    assert fast.status_code == slow.status_code == 304
    assert sorted(fast.items()) == sorted(slow.items())
    assert fast.content == slow.content == b""


def test_snapshot_304__service_token__one_statement(token_reader, django_assert_num_queries):
    client, namespace, _, etag = token_reader
    with django_assert_num_queries(1):
        response = client.get(snapshot_url(namespace), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304 and response["ETag"] == etag


@pytest.mark.parametrize("holder", ["tenant", "group"])
def test_snapshot_304__view_role_through_the_tenant_or_a_group__one_statement(
    make_user, make_namespace, grant, holder, django_assert_num_queries
):
    namespace, user = make_namespace(), make_user()
    if holder == "tenant":
        grant(user, namespace.tenant, "viewer")
    else:
        group = Group.objects.create(name=f"readers-{namespace.pk}")
        group.user_set.add(user)
        assign_perm("view_configs", group, namespace)
    client = bearer_client(str(AccessToken.for_user(user)))
    etag = client.get(snapshot_url(namespace))["ETag"]
    with django_assert_num_queries(1):
        assert client.get(snapshot_url(namespace), HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_snapshot_304__counted_under_the_views_route(token_reader):
    client, namespace, _, etag = token_reader
    series = HTTP_REQUESTS.labels(route="api/v1/" + "namespaces/<slug:tenant>/<slug:environment>/<slug:service>"
                                  + "/configs/", method="GET", status=304)
    before = series._value.get()
    assert client.get(snapshot_url(namespace), HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert series._value.get() == before + 1


def test_snapshot_get__revision_moved__full_snapshot(viewer, change_context):
    client, namespace, _, etag = viewer
    config_set(namespace=namespace, name="limit", value=5, context=change_context)
    response = client.get(snapshot_url(namespace), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200 and response["ETag"] != etag
    assert [(config["name"], config["value"]) for config in response.json()["configs"]] == [("limit", 5)]


def test_snapshot_get__user_deactivated__401(viewer):
    client, namespace, user, etag = viewer
    user.is_active = False
    user.save()
    assert client.get(snapshot_url(namespace), HTTP_IF_NONE_MATCH=etag).status_code == 401


def test_snapshot_get__role_revoked__404(viewer, change_context):
    client, namespace, user, etag = viewer
    role_revoke(target=namespace, user=user, context=change_context)
    assert client.get(snapshot_url(namespace), HTTP_IF_NONE_MATCH=etag).status_code == 404


@pytest.mark.parametrize("credential", ["expired", "garbage", "none"])
def test_snapshot_get__bad_or_no_jwt__401(viewer, credential):
    client, namespace, user, etag = viewer
    if credential == "expired":
        token = AccessToken.for_user(user)
        token.set_exp(lifetime=-timedelta(seconds=1))
        client = bearer_client(str(token))
    elif credential == "garbage":
        client = bearer_client("not.a.token")
    else:
        client.credentials()
    assert client.get(snapshot_url(namespace), HTTP_IF_NONE_MATCH=etag).status_code == 401


def test_snapshot_get__revoked_service_token__401(token_reader, change_context):
    client, namespace, token, etag = token_reader
    service_token_revoke(token=token, context=change_context)
    assert client.get(snapshot_url(namespace), HTTP_IF_NONE_MATCH=etag).status_code == 401


def test_snapshot_get__service_token_of_another_namespace__404(token_reader, make_namespace):
    client, _, _, etag = token_reader
    other = make_namespace()
    assert client.get(snapshot_url(other), HTTP_IF_NONE_MATCH='"0"').status_code == 404


def test_snapshot_get__service_token_use_not_recorded_lately__304_and_the_use_recorded(token_reader):
    client, namespace, token, etag = token_reader
    type(token).objects.filter(pk=token.pk).update(last_used_at=None)
    assert client.get(snapshot_url(namespace), HTTP_IF_NONE_MATCH=etag).status_code == 304
    token.refresh_from_db()
    assert token.last_used_at is not None
