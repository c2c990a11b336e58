"""Validators, rollout evaluation and apply reports, without a broker: the
store applies plain events; the reporter gets a producer that records calls."""

import json

import pytest
from noreboot import ConfigClient
from noreboot.api import KafkaCredentials
from noreboot.cache import SnapshotCache
from noreboot.effective import EffectiveValues
from noreboot.reporter import Reporter, report_mac
from noreboot.rollout import cohort_bucket, in_cohort, labels_from_env
from noreboot.snapshot import snapshot_from_configs
from noreboot.store import SnapshotStore

NAMESPACE = "acme/prod/checkout"


def store_with(effective: EffectiveValues, **values) -> SnapshotStore:
    store = SnapshotStore(NAMESPACE, cache=None, cache_write_interval=1.0, on_swap=lambda _snapshot: None,
                          effective=effective)
    store.install(snapshot_from_configs(NAMESPACE, 1, [{"name": k, "value": v} for k, v in values.items()]), "api")
    return store


def event(revision: int, name: str, value, op: str = "upsert", **extra) -> dict:
    return {"namespace": NAMESPACE, "revision": revision, "name": name, "value": value, "version": revision, "op": op,
            **extra}


def at_most_100(value):
    if value > 100:
        raise ValueError(f"{value} is above 100")
    return True


def test_validator__refuses_a_value__previous_kept_no_listener_revision_advances_and_reported():
    effective = EffectiveValues("i-1", {})
    effective.add_validator("limit", at_most_100)
    store = store_with(effective, limit=50)
    heard = []
    store.add_callback(lambda name, old, new: heard.append((name, old, new)), None)
    store.apply(event(2, "limit", 500))
    assert store.current.revision == 2 and store.current.values["limit"] == 50
    assert heard == []
    assert effective.rejected == {"limit": {"revision": 2, "name": "limit", "reason": "500 is above 100"}}
    # The service's value is still what the digest is of.
    assert store.current.server_values == {"limit": 500}
    store.apply(event(3, "limit", 70))
    assert store.current.values["limit"] == 70 and heard == [("limit", 50, 70)]
    assert effective.rejected == {} and store.current.stable is None


def test_validator__returns_false__refused_with_that_reason():
    effective = EffectiveValues("i-1", {})
    effective.add_validator("mode", lambda value: value in ("a", "b"))
    store = store_with(effective, mode="a")
    store.apply(event(2, "mode", "c"))
    assert store.current.values["mode"] == "a"
    assert effective.rejected["mode"]["reason"] == "the validator returned False"


@pytest.mark.parametrize("labels, percent, reads_candidate", [
    ({"region": "eu1"}, 100, True),
    ({"region": "us1"}, 100, False),
    ({"region": "eu1"}, 0, False),
])
def test_rollout_event__labels_and_percent__candidate_read_only_in_the_cohort(labels, percent, reads_candidate):
    effective = EffectiveValues("i-1", labels)
    store = store_with(effective, limit=50)
    rollout = {"id": "r-1", "value": 80, "percent": percent, "labels": {"region": "eu1"}}
    store.apply(event(2, "limit", 50, op="rollout", rollout=rollout))
    assert store.current.values["limit"] == (80 if reads_candidate else 50)
    assert store.current.server_values == {"limit": 50}
    store.apply(event(3, "limit", 50, op="rollout", rollout=None))
    assert store.current.values["limit"] == 50 and store.current.rollouts == {}


def test_rollout__percent__the_hash_bucket_decides_and_a_cohort_only_grows():
    ids = [f"instance-{number}" for number in range(400)]
    at_10 = {i for i in ids if in_cohort({"id": "r", "percent": 10, "labels": {}}, i, {})}
    at_50 = {i for i in ids if in_cohort({"id": "r", "percent": 50, "labels": {}}, i, {})}
    assert at_10 < at_50 and 20 <= len(at_10) <= 60 and 160 <= len(at_50) <= 240
    assert all(cohort_bucket("r", i) < 10 for i in at_10)


def test_labels_from_env__pairs_or_json__parsed_and_bad_refused(monkeypatch):
    monkeypatch.setenv("NOREBOOT_LABELS", "region=eu1, version=2.3.1")
    assert labels_from_env() == {"region": "eu1", "version": "2.3.1"}
    monkeypatch.setenv("NOREBOOT_LABELS", '{"region": "us1"}')
    assert labels_from_env() == {"region": "us1"}
    monkeypatch.setenv("NOREBOOT_LABELS", "region")
    with pytest.raises(ValueError):
        labels_from_env()


class RecordingProducer:
    def __init__(self, config: dict, *, refuse: bool = False) -> None:
        self.config = config
        self.produced: list[tuple[str, bytes, bytes]] = []
        self.refuse = refuse

    def produce(self, topic, key, value, on_delivery):
        if self.refuse:
            raise BufferError("Local: Queue full")
        self.produced.append((topic, key, value))

    def poll(self, _timeout):
        return 0

    def flush(self, _timeout):
        return 0


CREDENTIALS = KafkaCredentials(bootstrap_servers="127.0.0.1:9", security_protocol="SASL_SSL",
                               sasl_mechanism="SCRAM-SHA-512", username="u", password="p", topic="t", partitions=1,
                               ca_pem="", ack_topic="config_acks.acme")


def test_reporter__start_change_and_quiet__one_signed_produce_per_report_and_only_when_due():
    producers = []
    effective = EffectiveValues("i-1", {"region": "eu1"})
    store = store_with(effective, limit=50)
    reporter = Reporter(store, effective, interval=30.0,
                        producer_factory=lambda config: producers.append(RecordingProducer(config)) or producers[-1])
    reporter.tick(CREDENTIALS)
    reporter.tick(CREDENTIALS)
    store.apply(event(2, "limit", 60))
    reporter.tick(CREDENTIALS)
    produced = producers[0].produced
    assert len(produced) == 2 and reporter.sent == 2
    topic, key, value = produced[-1]
    report = json.loads(value)
    assert (topic, key) == ("config_acks.acme", b"i-1")
    assert {k: report[k] for k in ("instance_id", "namespace", "labels", "revision", "rejected")} == {
        "instance_id": "i-1", "namespace": NAMESPACE, "labels": {"region": "eu1"}, "revision": 2, "rejected": [],
    }
    assert "group.id" not in producers[0].config
    # Signed with the principal's password, which the collector derives too.
    assert report["principal"] == "u" and report["mac"] == report_mac("p", report)


def test_reporter__queue_full__dropped_and_counted_never_raised():
    effective = EffectiveValues("i-1", {})
    store = store_with(effective, limit=50)
    reporter = Reporter(store, effective, interval=30.0,
                        producer_factory=lambda config: RecordingProducer(config, refuse=True))
    reporter.tick(CREDENTIALS)
    assert (reporter.sent, reporter.dropped) == (0, 1)
    reporter.tick(None)  # no credentials (a polling client): nothing to do
    assert reporter.dropped == 1


def test_client__instance_id_and_labels__given_or_from_the_environment(monkeypatch):
    monkeypatch.setenv("NOREBOOT_LABELS", "region=eu1")
    default = ConfigClient(namespace=NAMESPACE, api_url="http://127.0.0.1:9", token="t")
    given = ConfigClient(namespace=NAMESPACE, api_url="http://127.0.0.1:9", token="t", instance_id="web-1",
                         labels={"region": "us1"})
    other = ConfigClient(namespace=NAMESPACE, api_url="http://127.0.0.1:9", token="t")
    assert default.labels == {"region": "eu1"} and default.instance_id == other.instance_id
    assert (given.instance_id, given.labels) == ("web-1", {"region": "us1"})


def test_install__snapshot_with_a_rollout__cohort_reads_the_candidate_and_the_cache_keeps_the_rollout(tmp_path):
    rollout = {"name": "limit", "id": "r-1", "value": 80, "percent": 100, "labels": {"region": "eu1"}}
    snapshot = snapshot_from_configs(NAMESPACE, 4, [{"name": "limit", "value": 50}], "e1", [rollout])
    cache = SnapshotCache(tmp_path, NAMESPACE)
    store = SnapshotStore(NAMESPACE, cache=cache, cache_write_interval=1.0, on_swap=lambda _snapshot: None,
                          effective=EffectiveValues("i-1", {"region": "eu1"}))
    store.install(snapshot, "api")
    assert store.current.values == {"limit": 80} and store.current.server_values == {"limit": 50}
    cached = cache.read()
    assert cached.values == {"limit": 50} and dict(cached.rollouts["limit"]) == {
        "id": "r-1", "value": 80, "percent": 100, "labels": {"region": "eu1"},
    }
    elsewhere = SnapshotStore(NAMESPACE, cache=None, cache_write_interval=1.0, on_swap=lambda _snapshot: None,
                              effective=EffectiveValues("i-2", {"region": "us1"}))
    elsewhere.install(cached, "cache")
    assert elsewhere.current.values == {"limit": 50}
