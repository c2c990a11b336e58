"""A changeset's part in a namespace (op "batch"): one snapshot swap for all of
its changes, listeners once per changed name after the swap."""

import threading

from noreboot.multi import MultiNamespaceClient
from noreboot.snapshot import MISSING, AppliedEvents, Change, Outcome, Snapshot, apply_event
from noreboot.store import SnapshotStore

NAMESPACE = "acme/prod/checkout"


def batch(revision, changes, **extra):
    return {"namespace": NAMESPACE, "name": None, "value": None, "version": None, "revision": revision,
            "op": "batch", "changes": changes, "changeset": 7,
            "changeset_revisions": {NAMESPACE: revision, "acme/prod/payments": 3}, **extra}


def held(**values):
    return Snapshot(namespace=NAMESPACE, revision=1, values=values)


def test_apply_event__batch_of_sets_and_a_delete__one_new_snapshot_and_one_change_per_changed_name():
    result = apply_event(held(a=1, b=2, gone=True), batch(2, [
        {"name": "a", "op": "upsert", "value": 10, "version": 2},
        {"name": "b", "op": "upsert", "value": 2, "version": 2},  # same value: no change to tell
        {"name": "gone", "op": "delete", "value": None, "version": 2},
        {"name": "new", "op": "upsert", "value": {"x": [1]}, "version": 1},
    ]))
    assert result.outcome is Outcome.APPLIED and result.snapshot.revision == 2
    assert dict(result.snapshot.values) == {"a": 10, "b": 2, "new": {"x": [1]}}
    assert result.changes == (Change("a", 1, 10), Change("gone", True, MISSING), Change("new", MISSING, {"x": [1]}))


def test_apply_event__batch_with_one_malformed_change__invalid_and_nothing_applied():
    snapshot = held(a=1)
    for changes in ([], [{"name": "a", "op": "upsert", "value": 2}, {"op": "upsert", "value": 3}],
                    [{"name": "a", "op": "upsert"}], [{"name": "a", "op": "rename"}], ["a"]):
        result = apply_event(snapshot, batch(2, changes))
        assert result.outcome is Outcome.INVALID and result.snapshot is snapshot


def test_applied_events__same_revision_with_other_batch_content__conflict():
    applied = AppliedEvents()
    first = batch(2, [{"name": "a", "op": "upsert", "value": 1, "version": 2}])
    applied.record(first)
    assert not applied.conflicts(dict(first))
    assert applied.conflicts(batch(2, [{"name": "a", "op": "upsert", "value": 9, "version": 2}]))


def test_store_apply__batch__listeners_after_the_swap_and_changeset_callback_with_the_revisions():
    store = SnapshotStore(NAMESPACE, cache=None, cache_write_interval=1.0, on_swap=lambda snapshot: None)
    store.install(held(a=1, b=1), "api")
    seen_by_listener, changesets = [], []

    def listener(name, old, new):
        # Both values of the batch are served before any listener hears of either.
        seen_by_listener.append((name, dict(store.current.values)))

    store.add_callback(listener, None)
    store.add_changeset_callback(lambda changeset, revisions: changesets.append((changeset, revisions)))
    store.apply(batch(2, [{"name": "a", "op": "upsert", "value": 2, "version": 2},
                          {"name": "b", "op": "upsert", "value": 2, "version": 2}]))
    assert seen_by_listener == [("a", {"a": 2, "b": 2}), ("b", {"a": 2, "b": 2})]
    assert changesets == [(7, {NAMESPACE: 2, "acme/prod/payments": 3})]


def test_multi_namespace_client__wait_for_changeset__true_once_every_held_part_is_served():
    class FakeClient:
        def __init__(self, namespace, revision):
            self.namespace, self.revision, self.callbacks = namespace, revision, []
            self.changed = threading.Condition()

        def on_changeset(self, callback):
            self.callbacks.append(callback)

        def wait_for_revision(self, revision, timeout=None):
            with self.changed:
                return self.changed.wait_for(lambda: self.revision >= revision, timeout)

        def serve(self, revision):
            with self.changed:
                self.revision = revision
                self.changed.notify_all()

    checkout, payments = FakeClient(NAMESPACE, 1), FakeClient("acme/prod/payments", 2)
    multi = MultiNamespaceClient([checkout, payments])
    assert not multi.wait_for_changeset(7, timeout=0.05)  # not seen yet
    checkout.serve(2)
    for callback in checkout.callbacks:
        callback(7, {NAMESPACE: 2, "acme/prod/payments": 3, "acme/dev/other": 9})
    assert not multi.wait_for_changeset(7, timeout=0.05)  # payments still at 2
    threading.Timer(0.05, payments.serve, args=(3,)).start()
    assert multi.wait_for_changeset(7, timeout=5)
