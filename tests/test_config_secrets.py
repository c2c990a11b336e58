"""Secret configs: encrypted at rest, masked everywhere they are shown, revealed
to namespace admins and the namespace's own tokens (audited), carried to SDK
clients over the API only, and re-encrypted by key rotation."""

import io
import json
import re
import secrets
import time

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from apps.audit.models import AuditEvent
from apps.changes.models import ChangeRequest
from apps.configs.definitions import config_plain_value, config_schema_set
from apps.configs.management.commands.rotate_secret_keys import rotate_batch
from apps.configs.models import ConfigSchemaVersion, Configuration
from apps.configs.schemas import SECRET_VIOLATION
from apps.configs.secrets import key_ring
from apps.configs.services import config_set
from apps.tenants import services as tenant_services
from tests.conftest import bearer_client, body
from tests.support.processes import ApiServer, http_call
from tests.test_sdk_live import _wait_consuming as wait_consuming

MASK = re.compile(r"^[0-9a-f]{12}$")


def config_url(namespace, name, tail=""):
    return f"/api/v1/namespaces/{namespace.path}/configs/{name}/{tail}"


def token_client(namespace, change_context):
    _, token = tenant_services.service_token_create(namespace=namespace, name="svc", context=change_context)
    return bearer_client(token)


def reveal_events(namespace):
    return list(
        AuditEvent.objects.filter(namespace=namespace, action="config.reveal").values_list("actor_username", "after")
    )


@pytest.mark.django_db
def test_secret_read__each_caller__masked_unless_admin_or_own_token_and_reveals_audited(
    editor, make_user, make_namespace, grant, client_for, change_context
):
    editor_client, namespace, _ = editor
    plain = {"password": "hunter2-" + secrets.token_hex(4)}
    created = editor_client.put(config_url(namespace, "db"), {"value": plain, "secret": True}, format="json")
    assert created.status_code == 201
    mask = body(created)["value"]
    assert mask == {"secret": True, "fingerprint": mask["fingerprint"]} and MASK.match(mask["fingerprint"])

    viewer, admin = make_user(), make_user(username=f"admin-{secrets.token_hex(3)}")
    grant(viewer, namespace, "viewer")
    grant(admin, namespace, "admin")
    other_namespace = make_namespace()
    masked_callers = {
        "viewer": client_for(viewer), "editor": editor_client, "other token": token_client(other_namespace, change_context),
    }
    for caller, client in masked_callers.items():
        response = client.get(config_url(namespace, "db") + "?reveal=true")
        if caller == "other token":
            assert response.status_code == 404
            continue
        assert response.status_code == 200 and body(response)["value"] == mask, caller
    assert reveal_events(namespace) == []

    for client in (client_for(admin), token_client(namespace, change_context)):
        revealed = body(client.get(config_url(namespace, "db") + "?reveal=true"))
        assert revealed["value"] == plain and revealed["fingerprint"] == mask["fingerprint"]
    # Without asking, even an admin reads the masked form.
    assert body(client_for(admin).get(config_url(namespace, "db")))["value"] == mask
    assert sorted(reveal_events(namespace)) == sorted([(admin.username, {"version": 1}), ("token:svc", {"version": 1})])


@pytest.mark.django_db
def test_secret_flag__changed_on_a_live_config__409_and_nothing_written(editor):
    client, namespace, _ = editor
    client.put(config_url(namespace, "plain"), {"value": 1}, format="json")
    response = client.put(config_url(namespace, "plain"), {"value": 2, "secret": True}, format="json")
    assert response.status_code == 409 and "secret" in body(response)["error"]["fields"]
    assert Configuration.objects.filter(namespace=namespace, name="plain").count() == 1


@pytest.mark.django_db
def test_secret_versions__diff_history_rollback__masked_and_rollback_restores_the_value(editor, make_user, grant,
                                                                                         client_for):
    client, namespace, user = editor
    client.put(config_url(namespace, "key"), {"value": "first-secret", "secret": True}, format="json")
    client.put(config_url(namespace, "key"), {"value": "second-secret"}, format="json")
    diff = body(client.get(config_url(namespace, "key", "diff/?from=1&to=2")))
    fingerprints = [row.value["fingerprint"] for row in Configuration.objects.filter(name="key", namespace=namespace)
                    .order_by("version")]
    assert diff["patch"] == [{"op": "replace", "path": "/fingerprint", "value": fingerprints[1]}]
    assert all(v["value"]["secret"] is True for v in body(client.get(config_url(namespace, "key", "versions/")))["results"])
    assert client.post(config_url(namespace, "key", "rollback/"), {"to_version": 1}, format="json").status_code == 201
    admin = make_user()
    grant(admin, namespace, "admin")
    assert body(client_for(admin).get(config_url(namespace, "key") + "?reveal=true"))["value"] == "first-secret"
    rows = Configuration.objects.filter(namespace=namespace, name="key").order_by("version")
    assert [row.value["fingerprint"] for row in rows][0] == rows[2].value["fingerprint"] != rows[1].value["fingerprint"]


def namespace_admin(namespace, make_user, grant, client_for):
    admin = make_user()
    grant(admin, namespace, "admin")
    return client_for(admin)


@pytest.mark.django_db
def test_secret_schema_change__editor_whatever_the_schema__403_and_schema_unchanged_admin_may(
    editor, make_user, grant, client_for
):
    client, namespace, _ = editor
    client.put(config_url(namespace, "db"), {"value": "s3cret", "secret": True}, format="json")
    # The answer is the same whether the schema would pass the secret or not: no oracle.
    for pattern in ("^s", "^x"):
        response = client.put(config_url(namespace, "db", "schema/"),
                              {"schema": {"type": "string", "pattern": pattern}}, format="json")
        assert response.status_code == 403, response.content
        assert set(body(response)["error"]) == {"code", "message"}
        assert body(response)["error"]["code"] == "permission_denied"
    assert not ConfigSchemaVersion.objects.filter(definition__namespace=namespace).exists()

    admin = namespace_admin(namespace, make_user, grant, client_for)
    assert admin.put(config_url(namespace, "db", "schema/"), {"schema": {"type": "string"}},
                     format="json").status_code == 200
    assert client.delete(config_url(namespace, "db", "schema/")).status_code == 403
    # A deleted secret's name stays a secret's: its old versions can be rolled back to.
    assert client.delete(config_url(namespace, "db")).status_code == 204
    assert client.put(config_url(namespace, "db", "schema/"), {"schema": {"type": "integer"}},
                      format="json").status_code == 403
    assert body(client.get(config_url(namespace, "db", "schema/")))["schema"] == {"type": "string"}
    assert admin.delete(config_url(namespace, "db", "schema/")).status_code == 204


@pytest.mark.django_db
def test_secret_schema_violation__write_rollback_and_admin_schema_set__one_message_without_value_or_keys(
    editor, make_user, grant, client_for
):
    client, namespace, _ = editor
    client.put(config_url(namespace, "db"), {"value": {"leaky-key": "leaky-1"}, "secret": True}, format="json")
    client.put(config_url(namespace, "db"), {"value": {"known": "leaky-2"}}, format="json")
    admin = namespace_admin(namespace, make_user, grant, client_for)
    refused_schema = admin.put(config_url(namespace, "db", "schema/"),
                               {"schema": {"properties": {"known": {"type": "integer"}}}}, format="json")
    assert refused_schema.status_code == 400
    assert body(refused_schema)["error"]["fields"]["schema"] == [f"current value {SECRET_VIOLATION}"]
    strict = {"type": "object", "required": ["known"], "additionalProperties": False,
              "properties": {"known": {"type": "string"}}}
    assert admin.put(config_url(namespace, "db", "schema/"), {"schema": strict}, format="json").status_code == 200

    written = client.put(config_url(namespace, "db"), {"value": {"leaky-key": "leaky-3", "x": [1, "y"]}},
                         format="json")
    rolled_back = client.post(config_url(namespace, "db", "rollback/"), {"to_version": 1}, format="json")
    for response in (written, rolled_back):
        assert response.status_code == 400 and body(response)["error"]["code"] == "schema_violation"
        assert body(response)["error"]["fields"] == {"value": [SECRET_VIOLATION]}
    for response in (refused_schema, written, rolled_back):
        assert "leaky" not in response.content.decode() and "known" not in body(response)["error"]["message"]
    assert Configuration.objects.filter(namespace=namespace, name="db").count() == 2


@pytest.mark.django_db
def test_export__secrets__left_out_unless_admin_asks_and_then_audited(editor, make_user, grant, client_for):
    client, namespace, _ = editor
    client.put(config_url(namespace, "token"), {"value": "export-me", "secret": True}, format="json")
    client.put(config_url(namespace, "plain"), {"value": 1}, format="json")
    export_url = f"/api/v1/namespaces/{namespace.path}/export/"
    assert body(client.get(export_url))["configs"] == {"plain": 1}
    assert client.get(export_url + "?include_secrets=true").status_code == 403
    admin = make_user()
    grant(admin, namespace, "admin")
    assert body(client_for(admin).get(export_url + "?include_secrets=true"))["configs"] == {
        "plain": 1, "token": "export-me"
    }
    event = AuditEvent.objects.get(namespace=namespace, action="config.export_secrets")
    assert event.actor == admin and event.after["secrets"] == ["token"]


@pytest.mark.django_db
def test_import__into_a_secret__plan_masked_and_value_stored_encrypted(editor, make_user, grant, client_for):
    client, namespace, _ = editor
    client.put(config_url(namespace, "token"), {"value": "old-token", "secret": True}, format="json")
    response = client.post(f"/api/v1/namespaces/{namespace.path}/import/", {"configs": {"token": "new-token"}},
                           format="json")
    change = body(response)["changes"][0]
    assert change["op"] == "update" and change["before"]["secret"] is True and change["after"]["secret"] is True
    assert "old-token" not in response.content.decode() and "new-token" not in response.content.decode()
    current = Configuration.objects.get(namespace=namespace, name="token", is_active=True)
    assert current.is_secret and "new-token" not in json.dumps(current.value)


@pytest.mark.django_db
def test_import_dry_run__guess_equal_to_the_secret_or_not__same_answer_update_without_the_guess_fingerprint(editor):
    client, namespace, _ = editor
    stored = body(client.put(config_url(namespace, "db"), {"value": "s3cret", "secret": True}, format="json"))
    import_url = f"/api/v1/namespaces/{namespace.path}/import/"
    plans = [body(client.post(import_url, {"configs": {"db": guess}, "dry_run": True}, format="json"))["changes"]
             for guess in ("wrong", "s3cret")]
    assert plans[0] == plans[1] == [{"name": "db", "op": "update", "before": stored["value"],
                                     "after": {"secret": True, "fingerprint": None}}]
    # A real import writes the secret again, even when equal.
    imported = body(client.post(import_url, {"configs": {"db": "s3cret"}}, format="json"))
    assert imported["changes"][0]["op"] == "update"
    assert Configuration.objects.filter(namespace=namespace, name="db").count() == 2


@pytest.mark.django_db
def test_rotation__secrets_under_key_1_then_key_2_added_rotated_key_1_dropped__all_read_back(
    make_namespace, change_context, settings
):
    key_1, key_2 = secrets.token_hex(32), secrets.token_hex(32)
    settings.SECRET_VALUE_KEYS = key_1
    namespace = make_namespace()
    written = {f"s{index}": {"n": index, "text": secrets.token_hex(8)} for index in range(7)}
    for name, value in written.items():
        config_set(namespace=namespace, name=name, value=value, context=change_context, secret=True)
    fingerprints = dict(Configuration.objects.filter(namespace=namespace).values_list("name", "value__fingerprint"))

    settings.SECRET_VALUE_KEYS = f"{key_2},{key_1}"
    output = io.StringIO()
    call_command("rotate_secret_keys", "--batch-size", "3", stdout=output)
    assert "done: 7 secret versions and change requests re-encrypted" in output.getvalue()
    newest = key_ring()[0].key_id
    assert set(Configuration.objects.filter(namespace=namespace).values_list("value__key", flat=True)) == {newest}
    settings.SECRET_VALUE_KEYS = key_2
    for row in Configuration.objects.filter(namespace=namespace):
        assert config_plain_value(row) == written[row.name]
    # Fingerprints do not depend on the encryption keys, and a second run has nothing to do.
    assert dict(Configuration.objects.filter(namespace=namespace).values_list("name", "value__fingerprint")) == fingerprints
    assert rotate_batch(100) == 0


@pytest.mark.django_db
def test_rotation__secrets_proposed_in_change_requests__reencrypted_in_batches_and_applied_after_old_key_dropped(
    editor, make_user, grant, client_for, settings
):
    client, namespace, _ = editor
    reviewer = make_user()
    grant(reviewer, namespace, "editor")
    opened = [
        body(client.post("/api/v1/change-requests/", {"changes": [
            {"namespace": namespace.path, "name": f"db{index}", "op": "set", "value": f"pw-{index}", "secret": True},
            {"namespace": namespace.path, "name": f"plain{index}", "op": "set", "value": index},
        ]}, format="json"))["id"]
        for index in range(2)
    ]
    fingerprints = [change["value"]["fingerprint"] for cr in ChangeRequest.objects.filter(pk__in=opened)
                    for change in cr.changes if change["secret"]]
    old_key = settings.SECRET_VALUE_KEYS.split(",")[0].strip()
    settings.SECRET_VALUE_KEYS = f"{secrets.token_hex(32)},{old_key}"
    batches = 0
    while rotate_batch(1):
        batches += 1
    assert batches == 2  # one request a batch, resumed until none is left under the old key
    settings.SECRET_VALUE_KEYS = settings.SECRET_VALUE_KEYS.split(",")[0]
    rotated = [change["value"] for cr in ChangeRequest.objects.filter(pk__in=opened) for change in cr.changes
               if change["secret"]]
    assert {value["key"] for value in rotated} == {key_ring()[0].key_id}
    assert [value["fingerprint"] for value in rotated] == fingerprints

    for change_request in opened:
        assert client_for(reviewer).post(f"/api/v1/change-requests/{change_request}/approve/", {},
                                         format="json").status_code == 200
        applied = client.post(f"/api/v1/change-requests/{change_request}/apply/", {}, format="json")
        assert applied.status_code == 200, applied.content
    admin = namespace_admin(namespace, make_user, grant, client_for)
    assert [body(admin.get(config_url(namespace, f"db{index}") + "?reveal=true"))["value"] for index in range(2)] == [
        "pw-0", "pw-1"]


def searchable_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        return [name for (name,) in cursor.fetchall()]


def tables_containing(text: str) -> set[str]:
    found = set()
    with connection.cursor() as cursor:
        for table in searchable_tables():
            cursor.execute(f'SELECT count(*) FROM "{table}" t WHERE strpos(t::text, %s) > 0', [text])
            if cursor.fetchone()[0]:
                found.add(table)
    return found


@pytest.mark.django_db(transaction=True)
def test_secret_written_through_api__plain_text_nowhere_and_ciphertext_only_in_the_config_table(
    relay, topic_tail, make_namespace, make_user, grant, settings
):
    namespace = make_namespace()
    admin = make_user()
    grant(admin, namespace, "admin")
    token = str(AccessToken.for_user(admin))
    plain = "plain-" + secrets.token_hex(12)
    api = ApiServer(settings.DATABASES["default"]["NAME"])
    api.start()
    try:
        base = f"{api.url}/api/v1/namespaces/{namespace.path}"
        status, _ = http_call(f"{base}/configs/db/", "PUT", token, {"value": {"password": plain}, "secret": True})
        assert status == 201
        status, _ = http_call(f"{base}/configs/db/", "PUT", token, {"value": {"password": plain + "-2"}})
        assert status == 201
        # A violation on the secret: its message must not echo the value either.
        http_call(f"{base}/configs/db/schema/", "PUT", token, {"schema": {"type": "object"}})
        status, _ = http_call(f"{base}/configs/db/", "PUT", token, {"value": plain})
        assert status == 400
        events = topic_tail.collect(namespace.path, 2, timeout=30)
        assert [(event["secret"], event["value"]) for event in events] == [(True, None), (True, None)]
        answers = [
            http_call(f"{api.url}/api/v1/audit/?namespace={namespace.path}", token=token)[1],
            http_call(f"{base}/export/", token=token)[1],
            http_call(f"{base}/configs/", token=token)[1],
            http_call(f"{base}/configs/db/versions/", token=token)[1],
            http_call(f"{base}/configs/db/diff/?from=1&to=2", token=token)[1],
            http_call(f"{api.url}/metrics")[1],
        ]
    finally:
        api_log = api.stop()
    relay_log = relay.stop()
    assert "PUT /api/v1/namespaces/" in api_log and "published" in relay_log
    for where, text in {"kafka": json.dumps(events), "api log": api_log, "relay log": relay_log,
                        **{f"answer {index}": answer for index, answer in enumerate(answers)}}.items():
        assert plain not in text, where
    assert tables_containing(plain) == set()
    ciphertexts = Configuration.objects.filter(namespace=namespace).values_list("value__ciphertext", flat=True)
    for ciphertext in ciphertexts:
        assert tables_containing(ciphertext) == {"configs_configuration"}


@pytest.mark.django_db(transaction=True)
def test_sdk__secret_config__reads_plain_and_gets_the_new_value_after_a_put(sdk_client, make_namespace, change_context):
    namespace = make_namespace()
    config_set(namespace=namespace, name="api-key", value="key-one", context=change_context, secret=True)
    config_set(namespace=namespace, name="plain", value=1, context=change_context)
    config_schema_set(namespace=namespace, name="plain", schema={"type": "integer"}, context=change_context)
    # A loaded machine's live server can be slow to answer: patience, not a retry loop.
    client = sdk_client(namespace, http_timeout=15)
    assert client.get("api-key") == "key-one" and client.get("plain") == 1
    assert client.schema("plain") == {"type": "integer"} and client.schema("api-key") is None
    wait_consuming(client)
    changed = config_set(namespace=namespace, name="api-key", value="key-two", context=change_context)
    started = time.monotonic()
    assert client.wait_for_revision(changed.revision, timeout=15)
    took = time.monotonic() - started
    assert client.get("api-key") == "key-two", client.status()
    # Through the event and one reveal, not a resync: the feed stayed in step.
    assert client.status().connected and client.status().last_error is None
    assert AuditEvent.objects.filter(namespace=namespace, action="config.reveal").count() == 2
    print(f"secret propagation {took * 1000:.0f} ms")
    # The disk cache never holds a secret.
    client.close()
    cached = next((client._store.cache.path.parent).glob("*.json")).read_text()
    assert "key-two" not in cached and '"plain": 1' in cached
