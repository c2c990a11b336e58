import pytest
from noreboot.api import ConfigApi, Route
from noreboot.errors import ApiError, ApiUnavailable, AuthenticationError, NamespaceNotFound
from stub_snapshot_api import NAMESPACE, snapshot_body


def make_api(url, timeout=2.0):
    return ConfigApi(url, "secret", NAMESPACE, timeout=timeout)


def test_fetch__ok__snapshot_route_and_bearer_token(snapshot_server):
    response = make_api(snapshot_server.url).fetch()

    assert response.snapshot.revision == 12
    assert response.snapshot.values == {"timeout": 2.5}
    assert response.route == Route(topic="config_updates", partitions=6)
    assert snapshot_server.requests[-1]["headers"]["Authorization"] == "Bearer secret"
    assert "If-None-Match" not in snapshot_server.requests[-1]["headers"]


def test_fetch__same_revision_etag__none_for_not_modified(snapshot_server):
    assert make_api(snapshot_server.url).fetch(if_none_match=12) is None
    assert snapshot_server.requests[-1]["headers"]["If-None-Match"] == '"12"'


def test_fetch__older_etag__full_snapshot(snapshot_server):
    assert make_api(snapshot_server.url).fetch(if_none_match=11).snapshot.revision == 12


def test_fetch__trailing_slash_in_url__single_slash_path(snapshot_server):
    make_api(snapshot_server.url + "/").fetch()

    assert snapshot_server.requests[-1]["path"] == "/api/v1/namespaces/acme/prod/checkout/configs/"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NamespaceNotFound),
        (400, ApiError),
        (429, ApiUnavailable),
        (500, ApiUnavailable),
        (502, ApiUnavailable),
        (503, ApiUnavailable),
    ],
)
def test_fetch__error_status__mapped_to_exception(snapshot_server, status, error):
    snapshot_server.status = status

    with pytest.raises(error) as raised:
        make_api(snapshot_server.url).fetch()

    if isinstance(raised.value, ApiError):
        assert raised.value.status == status
    assert f"forced {status}" in str(raised.value)


def test_fetch__connection_refused__unavailable(closed_port_url):
    with pytest.raises(ApiUnavailable, match="unreachable"):
        make_api(closed_port_url).fetch()


@pytest.mark.parametrize(
    "body",
    [
        b"<html>gateway</html>",
        b"{}",
        b'{"namespace": "other/prod/checkout", "revision": 1, "topic": "t", "partitions": 1, "configs": []}',
        b'{"namespace": "acme/prod/checkout", "revision": 1, "topic": "t", "partitions": 0, "configs": []}',
        b'{"namespace": "acme/prod/checkout", "revision": 1, "topic": "", "partitions": 1, "configs": []}',
        b'{"namespace": "acme/prod/checkout", "revision": 1, "topic": "t", "partitions": 1, "configs": {}}',
    ],
)
def test_fetch__body_not_per_contract__unavailable(snapshot_server, body):
    snapshot_server.raw_body = body

    with pytest.raises(ApiUnavailable, match="unexpected snapshot response"):
        make_api(snapshot_server.url).fetch()


def test_fetch__extra_fields__ignored(snapshot_server):
    snapshot_server.body = dict(snapshot_body(), schema=2, configs=[{"name": "a", "value": 1, "comment": "x"}])

    assert make_api(snapshot_server.url).fetch().snapshot.values == {"a": 1}
