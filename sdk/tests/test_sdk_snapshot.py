import copy
import hashlib
import pickle
from types import MappingProxyType

import pytest
from noreboot.digest import config_digest
from noreboot.frozen import FrozenDict, FrozenList, freeze
from noreboot.snapshot import (
    MISSING,
    AppliedEvents,
    Change,
    Outcome,
    Snapshot,
    apply_event,
    diff,
    same_value,
    snapshot_from_configs,
)

NAMESPACE = "acme/prod/checkout"


def event(revision, name="timeout", value=2.5, op="upsert", **extra):
    payload = {
        "namespace": NAMESPACE,
        "name": name,
        "value": value,
        "version": 1,
        "revision": revision,
        "op": op,
        "event_id": "00000000-0000-0000-0000-000000000000",
        "changed_at": "2026-11-28T19:00:00.123456Z",
        "actor": "alice",
    }
    payload.update(extra)
    return payload


@pytest.fixture
def snapshot():
    return Snapshot(namespace=NAMESPACE, revision=10, values={"timeout": 1.0, "new_checkout": False})


def test_apply_event__next_revision__applied_in_a_new_snapshot(snapshot):
    result = apply_event(snapshot, event(11, value=2.5))

    assert result.outcome is Outcome.APPLIED
    assert result.snapshot.revision == 11
    assert result.snapshot.values == {"timeout": 2.5, "new_checkout": False}
    assert result.changes == (Change("timeout", 1.0, 2.5),)
    # The old snapshot is untouched: readers holding it see a consistent view.
    assert snapshot.values == {"timeout": 1.0, "new_checkout": False}
    assert snapshot.revision == 10


def test_apply_event__new_name__change_from_missing(snapshot):
    result = apply_event(snapshot, event(11, name="retries", value=3))

    assert result.snapshot.values["retries"] == 3
    assert result.changes == (Change("retries", MISSING, 3),)


def test_apply_event__delete__removes_the_name(snapshot):
    result = apply_event(snapshot, event(11, op="delete", value=None))

    assert result.outcome is Outcome.APPLIED
    assert "timeout" not in result.snapshot.values
    assert result.changes == (Change("timeout", 1.0, MISSING),)


def test_apply_event__delete_of_missing_name__applied_without_change(snapshot):
    result = apply_event(snapshot, event(11, name="ghost", op="delete"))

    assert result.outcome is Outcome.APPLIED
    assert result.snapshot.revision == 11
    assert result.changes == ()


@pytest.mark.parametrize("revision", [10, 9, 1, 0])
def test_apply_event__revision_not_above_current__ignored_as_stale(snapshot, revision):
    result = apply_event(snapshot, event(revision, value=99))

    assert result.outcome is Outcome.STALE
    assert result.snapshot is snapshot


def test_apply_event__duplicate_delivery__applied_once(snapshot):
    first = apply_event(snapshot, event(11, value=2.5))
    again = apply_event(first.snapshot, event(11, value=2.5))

    assert again.outcome is Outcome.STALE
    assert again.snapshot is first.snapshot


@pytest.mark.parametrize("revision", [12, 13, 1000])
def test_apply_event__revision_skips_ahead__gap_without_applying(snapshot, revision):
    result = apply_event(snapshot, event(revision))

    assert result.outcome is Outcome.GAP
    assert result.snapshot is snapshot
    assert "expected revision 11" in result.reason


def test_apply_event__other_namespace__foreign(snapshot):
    result = apply_event(snapshot, event(11, namespace="other/prod/checkout"))

    assert result.outcome is Outcome.FOREIGN
    assert result.snapshot is snapshot


def test_apply_event__unknown_fields__ignored(snapshot):
    result = apply_event(snapshot, event(11, value=3.0, schema_version=7, trace={"id": "x"}))

    assert result.outcome is Outcome.APPLIED
    assert result.snapshot.values["timeout"] == 3.0


def test_apply_event__missing_op__treated_as_upsert(snapshot):
    payload = event(11, value=4.0)
    del payload["op"]

    assert apply_event(snapshot, payload).outcome is Outcome.APPLIED


def test_apply_event__null_value_upsert__stores_null(snapshot):
    result = apply_event(snapshot, event(11, value=None))

    assert result.snapshot.values == {"timeout": None, "new_checkout": False}


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "text",
        event("11"),
        event(True),
        event(11.0),
        event(11, name=""),
        event(11, name=5),
        event(11, op="replace"),
        {k: v for k, v in event(11).items() if k != "value"},
    ],
)
def test_apply_event__malformed__invalid_and_unchanged(snapshot, payload):
    result = apply_event(snapshot, payload)

    assert result.outcome in (Outcome.INVALID, Outcome.FOREIGN)
    assert result.snapshot is snapshot


def test_apply_event__same_value_again__applied_without_change(snapshot):
    result = apply_event(snapshot, event(11, value=1.0))

    assert result.snapshot.revision == 11
    assert result.changes == ()


def test_apply_event__int_to_bool_of_equal_value__is_a_change():
    snapshot = Snapshot(namespace=NAMESPACE, revision=1, values={"flag": 1})

    result = apply_event(snapshot, event(2, name="flag", value=True))

    assert result.changes == (Change("flag", 1, True),)


def test_apply_event__sequence_of_events__folds_in_order(snapshot):
    events = [event(11, value=2.0), event(12, name="new_checkout", value=True), event(13, op="delete")]
    for payload in events:
        snapshot = apply_event(snapshot, payload).snapshot

    assert snapshot.revision == 13
    assert snapshot.values == {"new_checkout": True}


def test_snapshot__view__is_read_only(snapshot):
    with pytest.raises(TypeError):
        snapshot.view["timeout"] = 5  # type: ignore[index]
    with pytest.raises(AttributeError):
        snapshot.revision = 11  # type: ignore[misc]


def test_diff__changed_added_removed__reported_by_name():
    old = Snapshot(NAMESPACE, 1, {"a": 1, "b": 2, "c": 3})
    new = Snapshot(NAMESPACE, 5, {"a": 1, "b": 20, "d": 4})

    assert diff(old, new) == (
        Change("b", 2, 20),
        Change("c", 3, MISSING),
        Change("d", MISSING, 4),
    )


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (1, 1, True),
        (1, 1.0, False),
        (1, True, False),
        ({"x": [1, 2]}, {"x": [1, 2]}, True),
        ({"x": [1]}, {"x": [True]}, False),
        (None, MISSING, False),
        (MISSING, MISSING, True),
    ],
)
def test_same_value__json_values__compares_types_too(a, b, same):
    assert same_value(a, b) is same


def test_snapshot_from_configs__api_list__values_by_name():
    configs = [
        {"name": "timeout", "value": 2.5, "version": 3, "updated_at": "2026-11-28T19:00:00.123456Z"},
        {"name": "limits", "value": {"rps": 10}, "version": 1, "updated_at": "2026-11-28T19:00:00Z"},
    ]

    snapshot = snapshot_from_configs(NAMESPACE, 12, configs)

    assert snapshot.revision == 12
    assert snapshot.values == {"timeout": 2.5, "limits": {"rps": 10}}


@pytest.mark.parametrize(
    ("revision", "configs"),
    [(-1, []), ("12", []), (True, []), (1, {}), (1, [{"value": 1}]), (1, [{"name": "x"}])],
)
def test_snapshot_from_configs__wrong_shape__raises(revision, configs):
    with pytest.raises(ValueError):
        snapshot_from_configs(NAMESPACE, revision, configs)


# -- frozen values ------------------------------------------------------------------


def test_apply_event__object_value__frozen_in_the_new_snapshot(snapshot):
    result = apply_event(snapshot, event(11, name="limits", value={"rps": [1, 2]}))

    assert isinstance(result.snapshot.values["limits"], FrozenDict)
    assert isinstance(result.snapshot.values["limits"]["rps"], FrozenList)


def test_snapshot_from_configs__nested_values__frozen_equal_to_the_json():
    built = snapshot_from_configs(NAMESPACE, 3, [{"name": "limits", "value": {"a": [{"b": 1}]}}])

    with pytest.raises(TypeError):
        built.values["limits"]["a"][0]["b"] = 2
    assert built.values == {"limits": {"a": [{"b": 1}]}}


def test_frozen__pickle_and_copy__equal_values():
    frozen = freeze({"a": [1, {"b": True}]})

    assert pickle.loads(pickle.dumps(frozen)) == frozen
    assert type(pickle.loads(pickle.dumps(frozen))) is FrozenDict
    assert type(copy.copy(frozen)) is dict and type(copy.deepcopy(frozen)["a"]) is list


# -- digest ---------------------------------------------------------------------------


def test_config_digest__known_values__the_hex_the_service_computes():
    # Pinned: the service computes the same digest with the same canonical JSON.
    values = {"timeout": 2.5, "flag": True, "name": "é", "limits": {"b": [1, 1.0], "a": None}}

    assert config_digest(values) == "ebb3f87eb159595129b173e1dada28d425e53dac36bb090a47c4aa35f28d4133"
    assert config_digest({}) == hashlib.sha256(b"{}").hexdigest()


def test_config_digest__frozen_or_mapping_view__same_as_plain_dict():
    values = {"limits": {"rps": [1, 2]}, "on": False}

    assert config_digest(freeze(values)) == config_digest(values) == config_digest(MappingProxyType(values))
    assert config_digest({"on": 1}) != config_digest({"on": True}) != config_digest({"on": 1.0})


# -- applied revisions -----------------------------------------------------------------


def test_applied_events__same_revision_same_content__no_conflict():
    applied = AppliedEvents()
    applied.record(event(11, value={"a": 1}))

    assert applied.conflicts(dict(event(11, value={"a": 1}), event_id="another delivery")) is False


@pytest.mark.parametrize(
    "other",
    [
        {"value": 3.0},
        {"value": True},
        {"name": "other"},
        {"op": "delete"},
        {"version": 2},
    ],
)
def test_applied_events__same_revision_other_content__conflict(other):
    applied = AppliedEvents()
    applied.record(event(11, value=1))

    assert applied.conflicts(dict(event(11, value=1), **other)) is True


def test_applied_events__over_its_size__oldest_forgotten():
    applied = AppliedEvents(size=2)
    for revision in (11, 12, 13):
        applied.record(event(revision))

    assert applied.conflicts(event(11, value="other")) is False
    assert applied.conflicts(event(13, value="other")) is True
