"""What a fetched snapshot may replace: the digest at an equal revision, and a service behind what is held."""

import logging
import time

import pytest
from noreboot import refresher
from noreboot.api import ConfigApi
from noreboot.errors import ApiUnavailable
from noreboot.refresher import SnapshotRefresher
from noreboot.retry import Outage
from noreboot.snapshot import snapshot_from_configs
from noreboot.store import SnapshotStore
from noreboot.transport import HttpClient
from stub_snapshot_api import NAMESPACE, snapshot_body

GENUINE = [{"name": "timeout", "value": 3.0}]
FORGED = [{"name": "timeout", "value": 99.0}]


@pytest.fixture
def holding(snapshot_server):
    """(store, refresher): the store holds ``configs`` at ``revision``, as if applied from Kafka."""

    def make(revision, configs):
        store = SnapshotStore(NAMESPACE, cache=None, cache_write_interval=1.0, on_swap=lambda snapshot: None)
        store.install(snapshot_from_configs(NAMESPACE, revision, configs), "api")
        api = ConfigApi(HttpClient(snapshot_server.url, "secret", timeout=2.0, user_agent="sdk-test"), NAMESPACE)
        return store, SnapshotRefresher(store, api, None, Outage("config service", on_error=lambda text: None))

    return make


def test_refresh__same_revision_same_digest__nothing_installed(snapshot_server, holding):
    snapshot_server.body = snapshot_body(12, GENUINE)
    store, sync = holding(12, GENUINE)
    held = store.current

    sync.refresh(conditional=False)

    assert store.current is held


@pytest.mark.parametrize("service_sends_digest", [True, False])
def test_refresh__same_revision_other_values__served_snapshot_installed(
    snapshot_server, holding, caplog, service_sends_digest
):
    snapshot_server.body = snapshot_body(12, GENUINE)
    if not service_sends_digest:
        del snapshot_server.body["digest"]
    store, sync = holding(12, FORGED)

    with caplog.at_level(logging.WARNING, logger="noreboot"):
        sync.refresh(conditional=False)

    assert store.current.values == {"timeout": 3.0}
    assert any("digest mismatch" in r.getMessage() for r in caplog.records)


def test_refresh__conditional_at_the_same_revision__blind_to_other_values(snapshot_server, holding):
    # Why the periodic check fetches unconditionally: a 304 says nothing of the values.
    snapshot_server.body = snapshot_body(12, GENUINE)
    store, sync = holding(12, FORGED)

    sync.refresh(conditional=True)

    assert store.current.values == {"timeout": 99.0}


def test_refresh__service_behind_the_held_revision__refused_then_believed_after_the_grace(
    snapshot_server, holding, monkeypatch, caplog
):
    monkeypatch.setattr(refresher, "_LAGGING_GRACE", 0.2)
    snapshot_server.body = snapshot_body(11, GENUINE)
    store, sync = holding(12, FORGED)  # revision 12 came from a forged event: nobody serves it

    with pytest.raises(ApiUnavailable, match="served revision 11 .* expected >= 12"):
        sync.refresh(conditional=True)
    assert store.current.revision == 12  # a lagging server is not the truth, at first
    time.sleep(0.25)
    with caplog.at_level(logging.WARNING, logger="noreboot"):
        sync.refresh(conditional=True)

    assert (store.current.revision, store.current.values) == (11, {"timeout": 3.0})
    assert any("kept serving revision 11" in r.getMessage() for r in caplog.records)


def test_refresh__kafka_showed_a_revision_the_service_never_serves__believed_after_the_grace(
    snapshot_server, holding, monkeypatch, caplog
):
    monkeypatch.setattr(refresher, "_LAGGING_GRACE", 0.2)
    snapshot_server.body = snapshot_body(12, GENUINE)
    store, sync = holding(12, GENUINE)

    with pytest.raises(ApiUnavailable):
        sync.refresh(conditional=True, min_revision=1000)  # a forged event far ahead: a "gap"
    time.sleep(0.25)
    with caplog.at_level(logging.WARNING, logger="noreboot"):
        sync.refresh(conditional=True, min_revision=1000)

    assert store.current.revision == 12
    assert any("kept serving revision 12" in r.getMessage() for r in caplog.records)
