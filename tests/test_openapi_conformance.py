"""The OpenAPI document says what the API answers: checked with a strict
OpenAPI 3.1 validator (openapi-core) on answers made here on purpose, and on
every answer the rest of the suite received (recorded by tests/conftest.py)."""

import pytest
from rest_framework.test import APIClient

from apps.configs.services import config_set
from tests.conftest import body
from tests.support import conformance

pytestmark = pytest.mark.django_db


@pytest.fixture
def answers():
    """The answers this test receives, and what the validator finds wrong with them."""
    start = len(conformance.recorded)

    def problems() -> list[str]:
        mine = conformance.recorded[start:]
        assert mine, "no API answer was recorded"
        return [problem for exchange in mine for problem in conformance.problems(exchange)]

    return problems


@pytest.fixture
def world(make_user, make_namespace, grant, client_for, change_context):
    namespace = make_namespace()
    config_set(namespace=namespace, name="flag", value=True, context=change_context)
    user = make_user()
    grant(user, namespace.tenant, "admin")
    return client_for(user), namespace, user


def test_paginated_lists__last_page_with_next_null__conform(world, answers):
    client, namespace, _ = world
    for url in ("/api/v1/namespaces/", f"/api/v1/namespaces/{namespace.path}/configs/flag/versions/",
                "/api/v1/audit/", "/api/v1/namespaces/?page_size=1"):
        response = client.get(url)
        assert response.status_code == 200
    assert body(client.get("/api/v1/namespaces/"))["next"] is None
    assert answers() == []


def test_writes_and_reads__etag_request_id_and_errors__conform(world, answers):
    client, namespace, _ = world
    url = f"/api/v1/namespaces/{namespace.path}/configs/flag/"
    assert client.get(url).status_code == 200
    assert client.put(url, {"value": 2}, format="json", HTTP_IF_MATCH='"1"').status_code == 201
    stale = client.put(url, {"value": 3}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412 and body(stale)["error"]["current_version"] == 2
    snapshot = client.get(f"/api/v1/namespaces/{namespace.path}/configs/")
    assert client.get(f"/api/v1/namespaces/{namespace.path}/configs/",
                      HTTP_IF_NONE_MATCH=snapshot["ETag"]).status_code == 304
    assert client.post(url + "rollback/", {"to_version": 1}, format="json").status_code == 201
    assert client.delete(url).status_code == 204
    assert client.put(url, "not json", content_type="text/plain").status_code == 415
    assert client.get(url, HTTP_ACCEPT="text/csv").status_code == 406
    assert client.put(url, {"value": None}, format="json").status_code == 400
    assert APIClient().get(url).status_code == 401
    assert answers() == []


def test_logout__answer__conforms(make_user, answers):
    user = make_user(password="a-long-enough-password")
    client = APIClient()
    tokens = body(client.post("/api/v1/auth/token/", {"username": user.username,
                                                      "password": "a-long-enough-password"}, format="json"))
    assert client.post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]}, format="json").status_code == 200
    assert answers() == []


def test_throttled_write__retry_after__conforms(world, answers, settings):
    client, namespace, _ = world
    settings.NOREBOOT_THROTTLE_RATES = {**settings.NOREBOOT_THROTTLE_RATES, "writes": "1/m"}
    url = f"/api/v1/namespaces/{namespace.path}/configs/other/"
    statuses = [client.put(url, {"value": n}, format="json").status_code for n in range(2)]
    assert statuses[-1] == 429
    assert answers() == []


@pytest.mark.parametrize("header", ["*", '"1"'])
def test_if_match__any_or_the_current_version__write_passes(world, header):
    client, namespace, _ = world
    url = f"/api/v1/namespaces/{namespace.path}/configs/flag/"
    assert client.put(url, {"value": 2}, format="json", HTTP_IF_MATCH=header).status_code == 201
    assert client.post(url + "rollback/", {"to_version": 1}, format="json",
                       HTTP_IF_MATCH="*" if header == "*" else '"2"').status_code == 201
    assert client.delete(url, HTTP_IF_MATCH="*" if header == "*" else '"3"').status_code == 204


def test_if_match_any__config_without_a_current_version__412_and_nothing_written(world):
    client, namespace, _ = world
    missing = client.put(f"/api/v1/namespaces/{namespace.path}/configs/absent/", {"value": 1}, format="json",
                         HTTP_IF_MATCH="*")
    assert missing.status_code == 412 and body(missing)["error"]["current_version"] == 0
    url = f"/api/v1/namespaces/{namespace.path}/configs/flag/"
    assert client.delete(url).status_code == 204
    deleted = client.put(url, {"value": 1}, format="json", HTTP_IF_MATCH="*")
    assert deleted.status_code == 412 and body(deleted)["error"]["current_version"] == 2
    assert client.get(url).status_code == 404


@pytest.mark.checks_recorded_responses
def test_every_recorded_api_answer__strict_openapi_31_validator__conforms():
    if not conformance.recorded:
        pytest.skip("no other test of this session called the API")
    found = [problem for exchange in conformance.recorded for problem in conformance.problems(exchange)]
    assert found == [], f"{len(found)} answers do not match the schema:\n" + "\n".join(found[:40])


@pytest.mark.parametrize("query", [
    "page=", "page=0", "page=last", "page=1.5", "page=-1",
    pytest.param("page_size=" + "9" * 5000, id="page_size=5000-digits"),
])
def test_list_page__not_a_whole_number_from_1__400_naming_it(world, query):
    client, _, _ = world
    response = client.get(f"/api/v1/namespaces/?{query}")
    assert response.status_code == 400 and query.split("=")[0] in body(response)["error"]["fields"]


def test_list_page__past_the_last__404(world):
    client, _, _ = world
    assert client.get("/api/v1/namespaces/?page=" + "9" * 5000).status_code == 404


def test_audit_filter__actor_of_only_a_no_break_space__matched_as_given(world):
    client, _, _ = world
    response = client.get("/api/v1/audit/", {"actor": "\u00a0"})
    assert response.status_code == 200 and body(response)["results"] == []
