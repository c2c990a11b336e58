"""start() and close() against a canned HTTP responder; Kafka is never reached."""

import logging
import time

import pytest
from noreboot import AuthenticationError, ConfigClient, NamespaceNotFound, SnapshotUnavailable
from noreboot.cache import SnapshotCache
from noreboot.snapshot import Snapshot
from stub_snapshot_api import CREDENTIALS_PATH, NAMESPACE, SNAPSHOT_PATH, credentials_body, snapshot_body


@pytest.fixture
def unreachable_kafka(closed_port_url):
    return closed_port_url.removeprefix("http://")


def make_client(api_url, kafka_bootstrap, **options):
    options.setdefault("snapshot_timeout", 2.0)
    return ConfigClient(namespace=NAMESPACE, api_url=api_url, token="secret", kafka_bootstrap=kafka_bootstrap, **options)


def write_cache(cache_dir, revision=7, values=None):
    SnapshotCache(cache_dir, NAMESPACE).write(Snapshot(NAMESPACE, revision, values or {"timeout": 9.0}))


def eventually(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_start__api_up__serves_api_snapshot_and_writes_cache(snapshot_server, unreachable_kafka, tmp_path):
    with make_client(snapshot_server.url, unreachable_kafka, cache_dir=tmp_path) as client:
        assert client.source == "api"
        assert client.revision == 12
        assert client.get_float("timeout") == 2.5
        assert SnapshotCache(tmp_path, NAMESPACE).read().revision == 12


def test_start__api_down_with_cache__serves_cache_and_says_so(closed_port_url, unreachable_kafka, tmp_path, caplog):
    write_cache(tmp_path)

    with caplog.at_level(logging.WARNING, logger="noreboot"):
        client = make_client(closed_port_url, unreachable_kafka, cache_dir=tmp_path).start()
    try:
        assert client.source == "cache"
        assert client.revision == 7
        assert client.get("timeout") == 9.0
        assert any("starts from the disk cache" in r.getMessage() for r in caplog.records)
    finally:
        client.close()


def test_start__api_back_after_cache_start__converges_to_api(snapshot_server, unreachable_kafka, tmp_path):
    write_cache(tmp_path)
    snapshot_server.status = 503
    client = make_client(snapshot_server.url, unreachable_kafka, cache_dir=tmp_path).start()
    changes = []
    client.on_change(lambda *change: changes.append(change))
    try:
        assert client.source == "cache"

        snapshot_server.status = 200

        # Listeners run after the swap, so wait for them rather than the source.
        assert eventually(lambda: changes)
        assert changes == [("timeout", 9.0, 2.5)]
        assert client.source == "api"
        assert client.revision == 12
        assert client.get("timeout") == 2.5
        assert SnapshotCache(tmp_path, NAMESPACE).read().revision == 12
    finally:
        client.close()


def test_start__api_down_without_cache__raises_after_timeout(closed_port_url, unreachable_kafka, tmp_path):
    client = make_client(closed_port_url, unreachable_kafka, cache_dir=tmp_path, snapshot_timeout=0.5)
    started = time.monotonic()

    with pytest.raises(SnapshotUnavailable, match="disk cache is empty"):
        client.start()
    assert 0.4 <= time.monotonic() - started < 5


def test_start__server_errors_without_cache__raises_after_timeout(snapshot_server, unreachable_kafka):
    snapshot_server.status = 500
    client = make_client(snapshot_server.url, unreachable_kafka, snapshot_timeout=0.5)

    with pytest.raises(SnapshotUnavailable, match="no cache_dir"):
        client.start()
    assert len(snapshot_server.requests) > 1  # it retried


@pytest.mark.parametrize(("status", "error"), [(401, AuthenticationError), (404, NamespaceNotFound)])
def test_start__auth_or_not_found__raises_at_once_despite_cache(
    snapshot_server, unreachable_kafka, tmp_path, status, error
):
    write_cache(tmp_path)
    snapshot_server.status = status
    client = make_client(snapshot_server.url, unreachable_kafka, cache_dir=tmp_path, snapshot_timeout=30)
    started = time.monotonic()

    with pytest.raises(error):
        client.start()
    assert time.monotonic() - started < 2
    assert client.source is None


def test_start__twice__same_client_one_listener(snapshot_server, unreachable_kafka):
    client = make_client(snapshot_server.url, unreachable_kafka)
    try:
        assert client.start() is client
        listener = client._listener
        assert client.start() is client
        assert client._listener is listener
    finally:
        client.close()


def test_close__twice_and_start_after__closed(snapshot_server, unreachable_kafka):
    client = make_client(snapshot_server.url, unreachable_kafka).start()
    client.close()
    client.close()

    assert client.get("timeout") == 2.5  # the last values stay readable
    with pytest.raises(RuntimeError):
        client.start()


def test_close__listener_thread__stops(snapshot_server, unreachable_kafka):
    client = make_client(snapshot_server.url, unreachable_kafka).start()
    thread = client._listener._thread

    client.close()

    assert not thread.is_alive()
    assert thread.daemon


def test_start__token_without_kafka_credentials__polls_the_service_and_says_so_once(snapshot_server, caplog):
    snapshot_server.credentials = credentials_body({"bootstrap.servers": "127.0.0.1:9"})
    snapshot_server.credentials_status = 403  # a person's login has no Kafka principal

    with caplog.at_level(logging.INFO, logger="noreboot"):
        client = make_client(snapshot_server.url, None, poll_interval=0.05).start()
        try:
            assert eventually(lambda: client.status().feed == "polling" and client.status().connected)
            snapshot_server.body = snapshot_body(revision=13, configs=[{"name": "timeout", "value": 3.0}])

            assert client.wait_for_revision(13, timeout=5)
            assert client.get("timeout") == 3.0
            time.sleep(0.2)  # a few more polls, all answered 304
        finally:
            client.close()

    status = client.status()
    assert (status.source, status.revision, status.feed, status.lag) == ("api", 13, "polling", None)
    conditional = [r for r in snapshot_server.requests_to("GET", SNAPSHOT_PATH) if "If-None-Match" in r["headers"]]
    assert len(conditional) >= 3
    assert len(snapshot_server.requests_to("POST", CREDENTIALS_PATH)) == 1
    said = [r for r in caplog.records if "no Kafka credentials for this token" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.INFO


def test_status__api_down_at_start__source_cache_and_the_last_error(closed_port_url, unreachable_kafka, tmp_path):
    write_cache(tmp_path)
    client = make_client(closed_port_url, unreachable_kafka, cache_dir=tmp_path).start()
    try:
        assert eventually(lambda: client.status().last_error is not None)
        status = client.status()
    finally:
        client.close()

    assert (status.source, status.revision, status.feed, status.connected) == ("cache", 7, "kafka", False)
    assert status.last_error.startswith("config service: cannot reach")


def test_snapshot_body_helper__matches_contract():
    assert set(snapshot_body()) == {"namespace", "revision", "epoch", "topic", "partitions", "digest", "configs"}
