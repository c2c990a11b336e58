import pytest
from noreboot.api import ConfigApi, KafkaCredentials, Route
from noreboot.digest import config_digest
from noreboot.errors import ApiError, ApiUnavailable, AuthenticationError, NamespaceNotFound
from noreboot.transport import HttpClient
from stub_snapshot_api import CREDENTIALS_PATH, NAMESPACE, credentials_body, snapshot_body


def make_api(url, timeout=2.0):
    return ConfigApi(HttpClient(url, "secret", timeout=timeout, user_agent="sdk-test"), NAMESPACE)


def test_fetch__ok__snapshot_route_and_bearer_token(snapshot_server):
    response = make_api(snapshot_server.url).fetch()

    assert response.snapshot.revision == 12
    assert response.snapshot.values == {"timeout": 2.5}
    assert response.route == Route(topic="config_updates", partitions=6)
    assert response.digest == config_digest({"timeout": 2.5})
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
    with pytest.raises(ApiUnavailable, match=f"cannot reach {closed_port_url}"):
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
        b'{"namespace": "acme/prod/checkout", "revision": 1, "topic": "t", "partitions": 1, "configs": [], "digest": 1}',
    ],
)
def test_fetch__body_not_per_contract__unavailable(snapshot_server, body):
    snapshot_server.raw_body = body

    with pytest.raises(ApiUnavailable, match="unexpected snapshot response"):
        make_api(snapshot_server.url).fetch()


def test_fetch__extra_fields__ignored(snapshot_server):
    snapshot_server.body = dict(snapshot_body(), schema=2, configs=[{"name": "a", "value": 1, "comment": "x"}])

    assert make_api(snapshot_server.url).fetch().snapshot.values == {"a": 1}


def test_fetch__no_digest_from_an_older_service__none(snapshot_server):
    snapshot_server.body = {key: value for key, value in snapshot_body().items() if key != "digest"}

    assert make_api(snapshot_server.url).fetch().digest is None


# -- kafka-credentials -------------------------------------------------------------


def test_kafka_credentials__ok__posted_with_bearer_and_parsed(snapshot_server):
    snapshot_server.credentials = dict(credentials_body({"bootstrap.servers": "broker:9093"}), security_protocol="SASL_SSL", ca_pem="PEM")

    credentials = make_api(snapshot_server.url).kafka_credentials()

    assert credentials == KafkaCredentials(
        bootstrap_servers="broker:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        username="nrb-token-1",
        password="pw-1",
        topic="config_updates",
        partitions=6,
        ca_pem="PEM",
    )
    request = snapshot_server.requests_to("POST", CREDENTIALS_PATH)[-1]
    assert request["headers"]["Authorization"] == "Bearer secret"
    assert request["body"] == {}  # never {"rotate": true}: that would cut off other clients of the token


def test_kafka_credentials__repr__hides_password_and_ca():
    credentials = KafkaCredentials("b:1", "SASL_SSL", "SCRAM-SHA-512", "user", "secret-pw", "t", 1, "PEM-TEXT")

    assert "secret-pw" not in repr(credentials) and "PEM-TEXT" not in repr(credentials)


def test_kafka_credentials__person_login__authentication_error_403_with_message(snapshot_server):
    snapshot_server.credentials = credentials_body({"bootstrap.servers": "broker:9093"})
    snapshot_server.credentials_status = 403

    with pytest.raises(AuthenticationError, match="forced 403") as raised:
        make_api(snapshot_server.url).kafka_credentials()
    assert raised.value.status == 403


@pytest.mark.parametrize("broken", [{"password": ""}, {"partitions": 0}, {"username": None}, {"ca_pem": 3}])
def test_kafka_credentials__body_not_per_contract__unavailable(snapshot_server, broken):
    snapshot_server.credentials = {**credentials_body({"bootstrap.servers": "broker:9093"}), **broken}

    with pytest.raises(ApiUnavailable, match="unexpected Kafka credentials response"):
        make_api(snapshot_server.url).kafka_credentials()
