"""The config PUT's fast path (apps/api/fast_paths.py): a plain PUT by an access
token is written before DRF, with the view's answer, rows, errors and throttle;
everything it does not take, the view answers as it would alone."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from apps.api.fast_paths import plain_write
from apps.audit.models import AuditEvent
from apps.changes.services import namespace_protect
from apps.configs.models import Configuration, OutboxEvent
from apps.configs.serializers import ConfigWriteSerializer
from apps.configs.services import config_set
from apps.configs.views import ConfigDetailView
from apps.fleet.models import Rollout
from apps.tenants.services import service_token_create
from tests.conftest import bearer_client, body, views_alone

pytestmark = pytest.mark.django_db

# What differs between two answers of the same request made one after the other.
PER_WRITE = {"version", "revision", "created_at"}
PER_RESPONSE_HEADERS = {"ETag", "X-Request-ID"}


@pytest.fixture
def view_puts(monkeypatch) -> list:
    """The requests the view itself answered."""
    calls = []
    dispatch = ConfigDetailView.dispatch

    def counted(self, request, *args, **kwargs):
        calls.append(request)
        return dispatch(self, request, *args, **kwargs)

    monkeypatch.setattr(ConfigDetailView, "dispatch", counted)
    return calls


def put(client: APIClient, namespace, data, name: str = "limit", query: str = "", **extra):
    raw = data if isinstance(data, (bytes, str)) else json.dumps(data)
    return client.put(f"/api/v1/namespaces/{namespace.path}/configs/{name}/{query}", raw,
                      content_type=extra.pop("content_type", "application/json"), **extra)


def both_ways(client, namespace, data, **extra):
    """(answer with the fast path, answer of the view alone) to the same request."""
    fast = put(client, namespace, data, **extra)
    with views_alone(client):
        slow = put(client, namespace, data, **extra)
    return fast, slow


def headers_of(response) -> dict:
    return {name: value for name, value in response.items() if name not in PER_RESPONSE_HEADERS}


def test_config_put__plain_body__written_before_the_view_with_the_views_answer_and_rows(editor, view_puts):
    client, namespace, user = editor
    fast, slow = both_ways(client, namespace, {"value": {"max": 5}, "comment": "raise it"})

    assert len(view_puts) == 1  # the second request, without the fast path
    assert fast.status_code == slow.status_code == 201
    assert headers_of(fast) == headers_of(slow)
    assert (fast["ETag"], slow["ETag"]) == ('"1"', '"2"')
    assert {k: v for k, v in body(fast).items() if k not in PER_WRITE} == {
        k: v for k, v in body(slow).items() if k not in PER_WRITE}
    versions = Configuration.objects.filter(namespace=namespace, name="limit").order_by("version")
    assert [(c.version, c.revision, c.is_active, c.comment) for c in versions] == [
        (1, 1, False, "raise it"), (2, 2, True, "raise it")]
    audit = AuditEvent.objects.filter(namespace=namespace, action=AuditEvent.Action.CONFIG_SET).order_by("id")
    fields = ["actor_id", "actor_username", "tenant_id", "target", "after", "source_ip", "changeset_id"]
    assert [[getattr(event, field) for field in fields] for event in audit] == 2 * [
        [user.pk, user.username, namespace.tenant_id, "limit", {"max": 5}, "127.0.0.1", None]]
    assert all(event.request_id for event in audit)
    events = [e.payload for e in OutboxEvent.objects.filter(key=namespace.path).order_by("id")]
    assert [(e["name"], e["value"], e["version"], e["revision"]) for e in events] == [
        ("limit", {"max": 5}, 1, 1), ("limit", {"max": 5}, 2, 2)]


def test_config_put__if_match_secret_and_expected_version__taken_as_the_view_takes_them(editor, view_puts):
    client, namespace, _ = editor
    assert put(client, namespace, {"value": "s3cret", "secret": True}).status_code == 201
    assert put(client, namespace, {"value": "next", "expected_version": 1}).status_code == 201
    answer = put(client, namespace, {"value": "last"}, HTTP_IF_MATCH='"2"')

    assert view_puts == []
    assert answer.status_code == 201 and body(answer)["secret"] is True and body(answer)["value"]["secret"] is True
    assert answer["ETag"] == '"3"'


@pytest.mark.parametrize("case", ["if_match_stale", "protected", "rollout_running"])
def test_config_put__the_write_refused__answered_here_as_the_view_answers(editor, change_context, view_puts, case):
    client, namespace, _ = editor
    config_set(namespace=namespace, name="limit", value=1, context=change_context)
    data, extra = {"value": 2}, {}
    if case == "if_match_stale":
        extra = {"HTTP_IF_MATCH": '"7"'}
    elif case == "protected":
        namespace_protect(namespace=namespace, required_approvals=1, context=change_context)
    else:
        assert client.post(f"/api/v1/namespaces/{namespace.path}/configs/limit/rollouts/",
                           {"value": 2, "stages": [{"percent": 10}]}, format="json").status_code == 201
    fast, slow = both_ways(client, namespace, data, **extra)

    assert len(view_puts) == 1
    assert fast.status_code == slow.status_code and fast.status_code in (409, 412)
    assert body(fast) == body(slow) and headers_of(fast) == headers_of(slow)
    assert Configuration.objects.filter(namespace=namespace, name="limit").count() == 1


def test_config_put__abort_rollout_true__ends_the_running_rollout(editor, change_context, view_puts):
    client, namespace, _ = editor
    config_set(namespace=namespace, name="limit", value=1, context=change_context)
    client.post(f"/api/v1/namespaces/{namespace.path}/configs/limit/rollouts/",
                {"value": 2, "stages": [{"percent": 10}]}, format="json")
    answer = put(client, namespace, {"value": 3}, query="?abort_rollout=true")

    assert view_puts == [] and answer.status_code == 201
    assert Rollout.objects.get().state == "aborted"


@pytest.mark.parametrize("data, extra", [
    ({"value": 1, "namespace": "other/ns/svc"}, {}),  # a field the view does not take
    ({"value": None}, {}),
    ({"comment": "no value"}, {}),
    ({"value": 1, "expected_version": "0"}, {}),
    ({"value": 1, "expected_version": 1.5}, {}),
    ({"value": 1, "secret": "true"}, {}),
    ({"value": 1, "comment": "  padded  "}, {}),  # DRF strips it
    ({"value": 1, "comment": "nul\x00"}, {}),
    ({"value": 1, "comment": "x" * 501}, {}),
    ([{"value": 1}], {}),
    ('{"value": NaN}', {}),
    ('{"value": 1', {}),
    ({"value": 1}, {"content_type": "text/plain"}),
    ({"value": 1}, {"HTTP_ACCEPT": "text/html"}),
    ({"value": 1}, {"query": "?abort_rollout=false"}),
    ({"value": 1}, {"name": "Bad Name!"}),
    ({"value": 1}, {"HTTP_IF_MATCH": "v2"}),
    # A value the checks refuse: the view answers one without the editor role before it reads the body.
    ({"value": "x" * (64 * 1024 + 1)}, {}),
])
def test_config_put__what_the_fast_path_does_not_take__the_views_answer(editor, view_puts, data, extra):
    client, namespace, _ = editor
    fast, slow = both_ways(client, namespace, data, **extra)

    assert len(view_puts) == 2
    assert fast.status_code == slow.status_code
    if fast.status_code == 201:
        assert body(fast)["comment"] == body(slow)["comment"]
    else:
        assert body(fast) == body(slow) and headers_of(fast) == headers_of(slow)


@pytest.mark.parametrize("caller", ["viewer", "viewer, a value too large", "stranger", "service_token",
                                    "no_credential", "garbage_token"])
def test_config_put__caller_without_the_editor_role__the_views_401_403_404(
    make_user, make_namespace, grant, client_for, change_context, view_puts, caller
):
    namespace = make_namespace()
    data = {"value": "x" * (64 * 1024 + 1) if caller.endswith("too large") else 1}
    if caller == "service_token":
        client = bearer_client(service_token_create(namespace=namespace, name="sdk", context=change_context)[1])
    elif caller == "no_credential":
        client = APIClient()
    elif caller == "garbage_token":
        client = bearer_client("not.a.token")
    else:
        user = make_user()
        if caller.startswith("viewer"):
            grant(user, namespace, "viewer")
        client = client_for(user)
    revision = namespace.revision
    fast, slow = both_ways(client, namespace, data)

    assert len(view_puts) == 2
    assert fast.status_code == slow.status_code and fast.status_code in (401, 403, 404)
    assert body(fast) == body(slow) and headers_of(fast) == headers_of(slow)
    assert not Configuration.objects.filter(namespace=namespace).exists()
    namespace.refresh_from_db()
    assert namespace.revision == revision


def test_config_put__caller_without_the_editor_role__each_refusal_counted_once(
    make_user, make_namespace, grant, client_for, settings, view_puts
):
    namespace, user = make_namespace(), make_user()
    grant(user, namespace, "viewer")
    settings.NOREBOOT_THROTTLE_RATES = {**settings.NOREBOOT_THROTTLE_RATES, "writes": "3/m"}
    client = client_for(user)
    answers = [put(client, namespace, {"value": i}) for i in range(4)]

    # Tried here, where the write's first statement refused it, then answered
    # by the view; counted by one of them only.
    assert [a.status_code for a in answers] == [403, 403, 403, 429] and len(view_puts) == 4


def test_config_put__over_the_write_limit__429_each_request_counted_once(editor, settings, view_puts):
    client, namespace, _ = editor
    settings.NOREBOOT_THROTTLE_RATES = {**settings.NOREBOOT_THROTTLE_RATES, "writes": "3/m"}
    answers = [put(client, namespace, {"value": i}) for i in range(4)]

    # Three writes taken here, each counted once; the view answers the fourth with its 429.
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert len(view_puts) == 1 and answers[-1]["Retry-After"]
    assert body(answers[-1])["error"]["code"] == "throttled"


JSON_SCALARS = st.none() | st.booleans() | st.integers(-3, 2**32) | st.floats(allow_nan=False) | st.text(max_size=8)
BODY_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)
BODY_TEXT = st.sampled_from(["", " ", "ok", " pad", "tab\t", "nul\x00", "\ud800", "x" * 500, "x" * 501])


@hypothesis_settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["value", "comment", "secret", "expected_version", "other"]),
                       BODY_VALUES | BODY_TEXT, max_size=4))
def test_plain_write__whatever_it_takes__the_views_serializer_takes_alike(fields):
    taken = plain_write(json.dumps(fields).encode())
    if taken is None:
        return
    serializer = ConfigWriteSerializer(data=fields)
    assert serializer.is_valid(), serializer.errors
    assert dict(serializer.validated_data) == taken
