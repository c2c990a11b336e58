"""Secret configs in the SDK, without a server: the revision rules for an event
whose value Kafka does not carry, the digest of masked values, the disk cache,
and the fill of an event over the API (a stub)."""

from noreboot.cache import SnapshotCache
from noreboot.digest import config_digest
from noreboot.secrets import fill_secrets
from noreboot.snapshot import AppliedEvents, Outcome, apply_event, snapshot_from_configs

NAMESPACE = "acme/prod/checkout"
MASK = {"secret": True, "fingerprint": "0123456789ab"}


def held():
    configs = [
        {"name": "db", "value": MASK, "version": 1, "secret": True},
        {"name": "plain", "value": 1, "version": 1, "secret": False},
    ]
    return snapshot_from_configs(NAMESPACE, 2, configs, secrets={"db": "pw-1"})


def secret_event(revision=3, version=2, **filled):
    return {"namespace": NAMESPACE, "name": "db", "value": None, "secret": True, "version": version,
            "revision": revision, "op": "upsert", **filled}


def test_snapshot__secret_entry__plain_value_served_and_masked_form_in_the_digest():
    snapshot = held()
    assert snapshot.values["db"] == "pw-1"
    assert config_digest(snapshot.digest_values) == config_digest({"db": MASK, "plain": 1})


def test_apply__secret_event_not_filled__invalid_and_nothing_served():
    snapshot = held()
    result = apply_event(snapshot, secret_event())
    assert result.outcome is Outcome.INVALID and result.snapshot is snapshot


def test_apply__secret_event_filled__plain_value_and_new_fingerprint():
    result = apply_event(held(), secret_event(value="pw-2", fingerprint="ba9876543210"))
    assert result.outcome is Outcome.APPLIED and result.snapshot.values["db"] == "pw-2"
    assert result.snapshot.masked["db"] == {"secret": True, "fingerprint": "ba9876543210"}


def test_applied_events__secret_duplicate_without_its_value__not_a_conflict():
    applied = AppliedEvents()
    applied.record(secret_event(value="pw-2", fingerprint="ba9876543210"))
    assert not applied.conflicts(secret_event())
    assert applied.conflicts(secret_event(version=5))


def test_cache__snapshot_with_a_secret__written_without_it(tmp_path):
    cache = SnapshotCache(tmp_path, NAMESPACE)
    cache.write(held())
    assert "pw-1" not in cache.path.read_text() and cache.read().values == {"plain": 1}


class StubApi:
    def __init__(self, version):
        self.version = version
        self.revealed = []

    def reveal(self, name):
        self.revealed.append(name)
        return type("Revealed", (), {"version": self.version, "value": "pw-2", "fingerprint": "ba9876543210"})


def test_fill__next_revision__value_fetched_and_put_in_the_event():
    event, api, syncs = secret_event(), StubApi(version=2), []
    assert fill_secrets(event, held(), api, lambda **kw: syncs.append(kw) or True)
    assert (event["value"], event["fingerprint"], syncs) == ("pw-2", "ba9876543210", [])


def test_fill__version_moved_on__not_applied_and_a_resync_asked():
    event, api, syncs = secret_event(), StubApi(version=3), []
    assert not fill_secrets(event, held(), api, lambda **kw: syncs.append(kw) or True)
    assert event["value"] is None and syncs == [{"full_fetch": True}]


def test_fill__duplicate_revision__no_reveal():
    api = StubApi(version=2)
    assert fill_secrets(secret_event(revision=2), held(), api, lambda **kw: True)
    assert api.revealed == []
