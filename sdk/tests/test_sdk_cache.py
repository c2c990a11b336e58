import json
import os

import pytest
from noreboot.cache import SnapshotCache, cache_path
from noreboot.snapshot import Snapshot

NAMESPACE = "acme/prod/checkout"


def test_cache_path__namespace__slashes_become_double_underscores(tmp_path):
    assert cache_path(tmp_path, NAMESPACE) == tmp_path / "acme__prod__checkout.json"


def test_write_then_read__snapshot__round_trips(tmp_path):
    cache = SnapshotCache(tmp_path, NAMESPACE)
    snapshot = Snapshot(NAMESPACE, 12, {"timeout": 2.5, "limits": {"rps": 10}, "name": "café"})

    cache.write(snapshot)

    assert cache.read() == snapshot
    assert json.loads(cache.path.read_text("utf-8"))["revision"] == 12


def test_write__missing_directory__created(tmp_path):
    cache = SnapshotCache(tmp_path / "nested" / "dir", NAMESPACE)

    cache.write(Snapshot(NAMESPACE, 1, {}))

    assert cache.read().revision == 1


def test_write__success__leaves_no_temporary_file(tmp_path):
    cache = SnapshotCache(tmp_path, NAMESPACE)

    cache.write(Snapshot(NAMESPACE, 1, {"a": 1}))
    cache.write(Snapshot(NAMESPACE, 2, {"a": 2}))

    assert sorted(os.listdir(tmp_path)) == ["acme__prod__checkout.json"]


def test_write__failure_before_rename__keeps_old_file_whole(tmp_path, monkeypatch):
    cache = SnapshotCache(tmp_path, NAMESPACE)
    cache.write(Snapshot(NAMESPACE, 1, {"a": 1}))

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        cache.write(Snapshot(NAMESPACE, 2, {"a": 2}))

    assert cache.read() == Snapshot(NAMESPACE, 1, {"a": 1})
    assert sorted(os.listdir(tmp_path)) == ["acme__prod__checkout.json"]


def test_read__no_file__none(tmp_path):
    assert SnapshotCache(tmp_path, NAMESPACE).read() is None


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{truncated",
        b"[]",
        json.dumps({"format": 1, "namespace": "other/prod/checkout", "revision": 1, "values": {}}).encode(),
        json.dumps({"format": 99, "namespace": NAMESPACE, "revision": 1, "values": {}}).encode(),
        json.dumps({"format": 1, "namespace": NAMESPACE, "revision": "1", "values": {}}).encode(),
        json.dumps({"format": 1, "namespace": NAMESPACE, "revision": 1, "values": []}).encode(),
    ],
)
def test_read__unusable_file__none(tmp_path, content):
    cache = SnapshotCache(tmp_path, NAMESPACE)
    cache.path.write_bytes(content)

    assert cache.read() is None


def test_read__object_values__read_only(tmp_path):
    cache = SnapshotCache(tmp_path, NAMESPACE)
    cache.write(Snapshot(NAMESPACE, 12, {"limits": {"rps": [10]}}))

    with pytest.raises(TypeError):
        cache.read().values["limits"]["rps"].append(20)
