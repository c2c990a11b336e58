import copy
import json
import logging
import threading
import time
import warnings

import pytest
from noreboot import ClientStatus, ConfigClient
from noreboot.cache import SnapshotCache
from noreboot.snapshot import Outcome, Snapshot, snapshot_from_configs

NAMESPACE = "acme/prod/checkout"


def make_client(**overrides):
    settings = {
        "namespace": NAMESPACE,
        "api_url": "http://127.0.0.1:9",
        "token": "secret",
        "kafka_bootstrap": "127.0.0.1:9",
    }
    settings.update(overrides)
    return ConfigClient(**settings)


def serving(values, revision=10, **overrides):
    """A client holding ``values`` as if the API had served them (no threads)."""
    client = make_client(**overrides)
    configs = [{"name": name, "value": value} for name, value in values.items()]
    client._store.install(snapshot_from_configs(NAMESPACE, revision, configs), "api")
    return client


def event(revision, name="timeout", value=2.5, op="upsert"):
    return {"namespace": NAMESPACE, "name": name, "value": value, "revision": revision, "op": op, "version": 1}


# -- construction -----------------------------------------------------------


def test_init__settings_from_environment__used(monkeypatch):
    monkeypatch.setenv("NOREBOOT_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("NOREBOOT_URL", "http://config.example:8000/")
    monkeypatch.setenv("NOREBOOT_TOKEN", "secret")
    monkeypatch.setenv("NOREBOOT_KAFKA_BOOTSTRAP", "kafka:9092")

    client = ConfigClient()

    assert client.namespace == NAMESPACE
    assert client.kafka_bootstrap == "kafka:9092"
    assert client._api.url == "http://config.example:8000/api/v1/namespaces/acme/prod/checkout/configs/"


def test_init__arguments__win_over_environment(monkeypatch):
    monkeypatch.setenv("NOREBOOT_NAMESPACE", "other/prod/checkout")

    assert make_client().namespace == NAMESPACE


@pytest.mark.parametrize(
    ("missing", "env_var"),
    [
        ("namespace", "NOREBOOT_NAMESPACE"),
        ("api_url", "NOREBOOT_URL"),
        ("token", "NOREBOOT_TOKEN"),
    ],
)
def test_init__setting_missing_everywhere__value_error_names_env_var(missing, env_var):
    with pytest.raises(ValueError, match=env_var):
        make_client(**{missing: None})


def test_init__no_kafka_bootstrap__allowed_credentials_come_from_the_service():
    assert make_client(kafka_bootstrap=None).kafka_bootstrap is None


def test_init__positional_settings__still_work_with_a_deprecation_warning(tmp_path):
    with pytest.warns(DeprecationWarning, match="keyword arguments"):
        client = ConfigClient(NAMESPACE, "http://127.0.0.1:9", "secret", "127.0.0.1:9", tmp_path)

    assert (client.namespace, client.api_url, client.kafka_bootstrap) == (NAMESPACE, "http://127.0.0.1:9", "127.0.0.1:9")
    assert client._store.cache.path.parent == tmp_path


def test_init__keyword_settings__no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_client()


def test_init__same_setting_by_position_and_keyword__type_error():
    with pytest.raises(TypeError, match="namespace"), pytest.warns(DeprecationWarning):
        ConfigClient(NAMESPACE, namespace=NAMESPACE, api_url="http://127.0.0.1:9", token="secret")


@pytest.mark.parametrize("namespace", ["acme/prod", "acme/prod/checkout/x", "Acme/prod/checkout", "a//b", "a/b/c d"])
def test_init__malformed_namespace__value_error(namespace):
    with pytest.raises(ValueError, match="namespace"):
        make_client(namespace=namespace)


def test_init__before_start__empty_at_revision_zero():
    client = make_client()

    assert client.revision == 0
    assert client.source is None
    assert client.get("timeout", 1.0) == 1.0
    assert dict(client.snapshot()) == {}


# -- reads --------------------------------------------------------------------


def test_get__present_and_missing__value_or_default():
    client = serving({"timeout": 2.5, "nothing": None})

    assert client.get("timeout") == 2.5
    assert client.get("missing") is None
    assert client.get("missing", 7) == 7
    assert client.get("nothing", 7) is None


@pytest.mark.parametrize("value", [{"rps": 10, "regions": ["eu"]}, [1, {"a": [2]}]])
def test_get__object_or_array__changing_it_raises_and_the_snapshot_stays(value):
    client = serving({"limits": value})
    held = client.get("limits")
    inner = held["regions"] if isinstance(held, dict) else held[1]["a"]

    for change in (
        lambda: held.__setitem__(0, 1),
        lambda: held.clear(),
        lambda: inner.append(3),
        lambda: inner.__setitem__(0, 9),
        lambda: held.update({}) if isinstance(held, dict) else held.extend([]),
        lambda: held.pop(),
    ):
        with pytest.raises(TypeError, match="read-only"):
            change()
    assert client.get("limits") == value


def test_get__object__still_a_dict_that_json_and_deepcopy_handle():
    client = serving({"limits": {"rps": 10, "regions": ["eu"]}})
    held = client.get_json("limits")

    mutable = copy.deepcopy(held)
    mutable["regions"].append("us")

    assert isinstance(held, dict) and isinstance(held["regions"], list)
    assert json.loads(json.dumps(held)) == {"rps": 10, "regions": ["eu"]}
    assert type(mutable) is dict and mutable["regions"] == ["eu", "us"]
    assert client.get("limits") == {"rps": 10, "regions": ["eu"]}


def test_get__value_applied_from_an_event__read_only_too():
    client = serving({})
    client._store.apply(event(11, name="limits", value={"rps": [1]}))

    with pytest.raises(TypeError):
        client.get("limits")["rps"].append(2)


def test_get__after_swap__is_the_current_dicts_own_get():
    # What makes get() as cheap as dict.get: no Python frame in between.
    client = serving({"timeout": 2.5})
    client._store.apply(event(11, value=3.0))

    assert client.get.__self__ is client._store.current.values
    assert client.get("timeout") == 3.0


@pytest.mark.parametrize(
    ("getter", "value", "expected"),
    [
        ("get_int", 3, 3),
        ("get_int", True, "default"),
        ("get_int", 3.0, "default"),
        ("get_int", "3", "default"),
        ("get_float", 2.5, 2.5),
        ("get_float", 2, 2.0),
        ("get_float", False, "default"),
        ("get_float", "2.5", "default"),
        ("get_bool", True, True),
        ("get_bool", False, False),
        ("get_bool", 1, "default"),
        ("get_bool", "true", "default"),
        ("get_str", "eu-west", "eu-west"),
        ("get_str", 5, "default"),
        ("get_json", {"rps": 10}, {"rps": 10}),
        ("get_json", [1, 2], [1, 2]),
        ("get_json", "{}", "default"),
        ("get_json", 5, "default"),
    ],
)
def test_typed_getter__value_of_type__value_else_default(getter, value, expected):
    client = serving({"key": value})

    assert getattr(client, getter)("key", "default") == expected


def test_get_float__int_value__returns_float_type():
    assert type(serving({"timeout": 2}).get_float("timeout")) is float


@pytest.mark.parametrize("getter", ["get_int", "get_float", "get_bool", "get_str", "get_json"])
def test_typed_getter__missing_or_null__default_without_warning(getter, caplog):
    client = serving({"null": None})

    with caplog.at_level(logging.WARNING, logger="noreboot"):
        assert getattr(client, getter)("missing", "d") == "d"
        assert getattr(client, getter)("null", "d") == "d"

    assert caplog.records == []


def test_typed_getter__wrong_type__warns_once_per_name_and_type(caplog):
    client = serving({"timeout": "fast", "retries": "many"})

    with caplog.at_level(logging.WARNING, logger="noreboot"):
        for _ in range(3):
            client.get_float("timeout", 1.0)
            client.get_int("timeout", 1)
            client.get_int("retries", 1)

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 3
    assert any("timeout is str, not float" in message for message in messages)


def test_snapshot__mapping__read_only_and_stable_across_changes():
    client = serving({"timeout": 2.5})
    view = client.snapshot()

    client._store.apply(event(11, value=3.0))

    with pytest.raises(TypeError):
        view["timeout"] = 1  # type: ignore[index]
    assert view["timeout"] == 2.5
    assert client.snapshot()["timeout"] == 3.0


# -- status and token ---------------------------------------------------------------


def test_status__before_start__nothing_served_not_connected():
    assert make_client().status() == ClientStatus(
        source=None, revision=0, feed=None, connected=False, last_error=None, lag=None
    )


def test_set_token__next_request__sends_the_new_token(snapshot_server):
    client = make_client(api_url=snapshot_server.url, token="old")
    client.set_token("renewed")

    client._api.fetch()

    assert snapshot_server.requests[-1]["headers"]["Authorization"] == "Bearer renewed"


# -- applying events ----------------------------------------------------------------


def test_apply_event__next_revision__swapped_and_listeners_called_after_swap():
    client = serving({"timeout": 2.5})
    seen = []
    client.on_change(lambda name, old, new: seen.append((name, old, new, client.get(name), client.revision)))

    result = client._store.apply(event(11, value=3.0))

    assert result.outcome is Outcome.APPLIED
    assert client.revision == 11
    assert seen == [("timeout", 2.5, 3.0, 3.0, 11)]


def test_apply_event__delete__listener_gets_none_as_new():
    client = serving({"timeout": 2.5})
    seen = []
    client.on_change(lambda *change: seen.append(change))

    client._store.apply(event(11, op="delete", value=None))

    assert client.get("timeout") is None
    assert seen == [("timeout", 2.5, None)]


def test_apply_event__stale_and_gap__nothing_swapped_or_called():
    client = serving({"timeout": 2.5})
    seen = []
    client.on_change(lambda *change: seen.append(change))
    before = client._store.current

    assert client._store.apply(event(10, value=9.0)).outcome is Outcome.STALE
    assert client._store.apply(event(12, value=9.0)).outcome is Outcome.GAP

    assert client._store.current is before
    assert seen == []


def test_apply__revision_held_with_the_same_content__stale_duplicate():
    client = serving({"timeout": 2.5})
    client._store.apply(event(11, value=3.0))

    assert client._store.apply(event(11, value=3.0)).outcome is Outcome.STALE


def test_apply__revision_held_with_other_content__conflict_and_nothing_swapped():
    client = serving({"timeout": 2.5})
    client._store.apply(event(11, value=99))  # say, a forged event
    held = client._store.current

    result = client._store.apply(event(11, value=3.0))  # the genuine one

    assert result.outcome is Outcome.CONFLICT
    assert "revision 11 was applied with other content" in result.reason
    assert client._store.current is held


def test_apply__after_a_snapshot_replaced_the_events__old_revisions_plain_stale():
    client = serving({"timeout": 2.5})
    client._store.apply(event(11, value=99))
    client._store.install(snapshot_from_configs(NAMESPACE, 11, [{"name": "timeout", "value": 3.0}]), "api")

    assert client._store.apply(event(11, value=99)).outcome is Outcome.STALE


def test_on_change__names_filter__only_those_names():
    client = serving({"timeout": 2.5, "flag": False})
    seen = []
    client.on_change(lambda name, old, new: seen.append(name), names="flag")

    client._store.apply(event(11, name="timeout", value=3.0))
    client._store.apply(event(12, name="flag", value=True))

    assert seen == ["flag"]


def test_on_change__callback_raises__logged_and_updates_go_on(caplog):
    client = serving({"timeout": 2.5})
    seen = []

    def broken(name, old, new):
        raise RuntimeError("listener bug")

    client.on_change(broken)
    client.on_change(lambda name, old, new: seen.append(new))

    with caplog.at_level(logging.ERROR, logger="noreboot"):
        client._store.apply(event(11, value=3.0))
        client._store.apply(event(12, value=4.0))

    assert client.revision == 12
    assert seen == [3.0, 4.0]
    assert len([r for r in caplog.records if "listener bug" in (r.exc_text or "")]) == 2


def test_remove_on_change__removed__not_called():
    client = serving({"timeout": 2.5})
    seen = []
    callback = client.on_change(lambda *change: seen.append(change))

    client.remove_on_change(callback)
    client._store.apply(event(11, value=3.0))

    assert seen == []


def test_install_snapshot__replacing_one__listeners_get_the_diff():
    client = serving({"timeout": 2.5, "old": 1})
    seen = []
    client.on_change(lambda *change: seen.append(change))

    client._store.install(Snapshot(NAMESPACE, 20, {"timeout": 2.5, "new": 2}), "api")

    assert client.revision == 20
    assert sorted(seen) == [("new", None, 2), ("old", 1, None)]


def test_install_snapshot__first_one__no_listener_calls():
    client = make_client()
    seen = []
    client.on_change(lambda *change: seen.append(change))

    client._store.install(Snapshot(NAMESPACE, 3, {"timeout": 2.5}), "api")

    assert seen == []
    assert client.source == "api"


def test_wait_for_revision__reached_from_another_thread__true():
    client = serving({"timeout": 2.5})
    applier = threading.Timer(0.05, client._store.apply, args=(event(11),))
    applier.start()

    assert client.wait_for_revision(11, timeout=5) is True
    applier.join()


def test_wait_for_revision__already_there__true_at_once():
    assert serving({}, revision=10).wait_for_revision(9, timeout=0) is True


def test_wait_for_revision__never_reached__false_after_timeout():
    client = serving({})
    started = time.monotonic()

    assert client.wait_for_revision(11, timeout=0.1) is False
    assert time.monotonic() - started >= 0.1


# -- disk cache ---------------------------------------------------------------


def test_apply_event__with_cache_dir__debounced_then_written_at_close(tmp_path):
    client = serving({"timeout": 2.5}, cache_dir=tmp_path, cache_write_interval=3600)
    cache = SnapshotCache(tmp_path, NAMESPACE)
    assert cache.read().revision == 10  # an API snapshot is written at once

    client._store.apply(event(11, value=3.0))
    client._store.flush()
    assert cache.read().revision == 10  # debounced

    client.close()
    assert cache.read() == Snapshot(NAMESPACE, 11, {"timeout": 3.0})


def test_flush_cache__unwritable__warns_once_and_keeps_serving(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with caplog.at_level(logging.WARNING, logger="noreboot"):
        client = serving({"timeout": 2.5}, cache_dir=blocker, cache_write_interval=0)
        client._store.apply(event(11, value=3.0))
        client._store.flush()

    assert client.get("timeout") == 3.0
    assert len([r for r in caplog.records if "cannot write config cache" in r.getMessage()]) == 1
