"""JWT for people: obtain, rotate, revoke, and every way a token can be abused."""

import base64
import json
import time
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from apps.audit.models import AuditEvent
from tests.conftest import bearer_client, body

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def person(make_user, make_namespace, grant):
    user = make_user(password=PASSWORD)
    namespace = make_namespace()
    grant(user, namespace, "viewer")
    return user, f"/api/v1/namespaces/{namespace.path}/configs/"


def login(user) -> dict:
    response = APIClient().post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, body(response)
    return body(response)


def refresh(token: str):
    return APIClient().post("/api/v1/auth/token/refresh/", {"refresh": token}, format="json")


def claims_token(user, **overrides) -> str:
    claims = {
        "token_type": "access", "user_id": str(user.pk), "jti": "x" * 32,
        "exp": AccessToken().payload["exp"], "iat": AccessToken().payload["iat"],
        "aud": settings.SIMPLE_JWT["AUDIENCE"], "iss": settings.SIMPLE_JWT["ISSUER"],
    }
    claims.update(overrides)
    return jwt.encode(claims, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")


def test_login__right_password__access_and_refresh_that_work(person):
    user, url = person
    tokens = login(user)
    assert bearer_client(tokens["access"]).get(url).status_code == 200
    decoded = jwt.decode(tokens["access"], options={"verify_signature": False})
    assert decoded["aud"] == settings.SIMPLE_JWT["AUDIENCE"] and decoded["iss"] == settings.SIMPLE_JWT["ISSUER"]


def test_login__wrong_password__401(person):
    user, _ = person
    response = APIClient().post("/api/v1/auth/token/", {"username": user.username, "password": "nope"}, format="json")
    assert response.status_code == 401 and "error" in body(response)


def test_refresh__rotated_token_reused__401(person):
    user, url = person
    first = login(user)["refresh"]
    rotated = refresh(first)
    assert rotated.status_code == 200 and body(rotated)["refresh"] != first
    assert refresh(first).status_code == 401
    assert bearer_client(body(rotated)["access"]).get(url).status_code == 200


def test_logout__refresh_token__blacklisted(person):
    user, _ = person
    tokens = login(user)
    assert APIClient().post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]}, format="json").status_code == 200
    assert refresh(tokens["refresh"]).status_code == 401


def test_access__deactivated_user__refresh_401_at_once_and_access_401_within_its_lifetime(person):
    user, url = person
    tokens = login(user)
    access = AccessToken(tokens["access"])
    # Short, but not so short that a busy machine's pause before the first
    # request outlives it (CI once took over a second here).
    lifetime = 3
    access.set_exp(lifetime=timedelta(seconds=lifetime))
    client = bearer_client(str(access))
    assert client.get(url).status_code == 200
    user.is_active = False
    user.save()

    assert refresh(tokens["refresh"]).status_code == 401
    deadline = time.monotonic() + lifetime + 4
    while client.get(url).status_code != 401:
        assert time.monotonic() < deadline, "the access token outlived its lifetime"
        time.sleep(0.1)


def test_access__token_without_identity_claims_of_a_deactivated_user__401_at_once(person):
    user, url = person
    client = bearer_client(str(AccessToken.for_user(user)))
    user.is_active = False
    user.save()
    assert client.get(url).status_code == 401


def test_access__session_token__no_user_query(person):
    user, url = person
    client = bearer_client(login(user)["access"])
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    assert not [query for query in queries if 'FROM "auth_user"' in query["sql"]]


def test_access__session_token_write__audited_as_its_user(person, grant, make_namespace):
    user, _ = person
    namespace = make_namespace()
    grant(user, namespace, "editor")
    client = bearer_client(login(user)["access"])
    response = client.put(f"/api/v1/namespaces/{namespace.path}/configs/limit/", {"value": 3}, format="json")
    assert response.status_code == 201, body(response)
    event = AuditEvent.objects.filter(namespace=namespace, target__contains="limit").latest("id")
    assert (event.actor_id, event.actor_username) == (user.pk, user.username)


@pytest.mark.parametrize("change", ["superuser", "username", "password"])
def test_refresh__user_no_longer_as_the_claims_say__401(person, change):
    user, _ = person
    tokens = login(user)
    if change == "superuser":
        user.is_superuser = True
    elif change == "username":
        user.username += "-renamed"
    else:
        user.set_password("another long password 3")
    user.save()
    assert refresh(tokens["refresh"]).status_code == 401


def _unsigned(user) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    payload = jwt.decode(claims_token(user), options={"verify_signature": False})
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda u: claims_token(u, exp=1), id="expired"),
        pytest.param(lambda u: jwt.encode(jwt.decode(claims_token(u), options={"verify_signature": False}),
                                          "some-other-key-of-enough-length-000", algorithm="HS256"), id="bad-signature"),
        pytest.param(_unsigned, id="alg-none"),
        pytest.param(lambda u: claims_token(u, aud="someone-else"), id="wrong-audience"),
        pytest.param(lambda u: claims_token(u, iss="someone-else"), id="wrong-issuer"),
        pytest.param(lambda u: str(RefreshToken.for_user(u)), id="refresh-used-as-access"),
        pytest.param(lambda u: "garbage", id="garbage"),
        pytest.param(lambda u: "nrb_not-a-real-service-token", id="unknown-service-token"),
    ],
)
def test_access__abused_token__401(person, forge):
    user, url = person
    assert claims_token(user) and bearer_client(claims_token(user)).get(url).status_code == 200
    response = bearer_client(forge(user)).get(url)
    assert response.status_code == 401, body(response)
    assert "error" in body(response)


def test_access__lifetime__short_by_default():
    assert settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] <= timedelta(minutes=15)
    assert settings.SIMPLE_JWT["SIGNING_KEY"] != settings.SECRET_KEY
