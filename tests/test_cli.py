"""The `hq` command line, run as a subprocess against the live API (and, for
`hq watch`, the relay and Kafka), as a user would run it."""

import json
import os
import queue
import stat
import subprocess
import sys
import threading
import time

import pytest

from apps.configs.models import Configuration
from apps.configs.services import config_delete, config_set

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "cli-password-1"


@pytest.fixture
def hq(live_server, tmp_path):
    """Runs `hq ARGS...` with its own config directory; returns the CompletedProcess."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("NOREBOOT_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), NOREBOOT_URL=live_server.url)

    def run(*args: str, stdin: str | None = None, extra_env: dict | None = None, popen: bool = False):
        command = [sys.executable, "-m", "noreboot.cli", *args]
        environment = {**env, **(extra_env or {})}
        if popen:
            return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, text=True)
        return subprocess.run(command, env=environment, input=stdin, capture_output=True, text=True, timeout=60)

    run.config_dir = tmp_path / "config"
    return run


@pytest.fixture
def session(hq, make_user, make_namespace, grant):
    """(namespace, user): an editor of a fresh namespace, logged in with `hq login`."""
    namespace = make_namespace()
    user = make_user(password=PASSWORD)
    grant(user, namespace, "editor")
    result = hq("login", "--username", user.username, "--password-stdin", stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    return namespace, user


def lines(text: str) -> list[str]:
    return text.splitlines()


def active_values(namespace) -> dict:
    return dict(Configuration.objects.filter(namespace=namespace, is_active=True).values_list("name", "value"))


def test_login__password_on_stdin__session_saved_0600_in_0700_dir_exit_0(hq, live_server, make_user):
    user = make_user(password=PASSWORD)
    result = hq("login", "--username", user.username, "--password-stdin", stdin=PASSWORD + "\n")
    path = hq.config_dir / "noreboot" / "credentials.json"
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == f"logged in to {live_server.url} as {user.username}; credentials saved to {path}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = json.loads(path.read_text())
    assert stored["url"] == live_server.url and stored["access"] and stored["refresh"]


def test_set_get_history_diff_rollback__editor__documented_output_exit_0(hq, session):
    namespace, user = session
    ns = namespace.path

    first = hq("set", ns, "limits", '{"rps": 10, "burst": 5}', "--comment", "initial")
    assert (first.returncode, first.stdout) == (0, 'limits = {"rps": 10, "burst": 5} (version 1, revision 1)\n')
    second = hq("set", ns, "limits", '{"rps": 20, "burst": 5}', "--if-version", "1")
    assert (second.returncode, second.stdout) == (0, 'limits = {"rps": 20, "burst": 5} (version 2, revision 2)\n')
    plain = hq("set", ns, "color", "dark blue")  # not JSON: a string
    assert (plain.returncode, plain.stdout) == (0, 'color = "dark blue" (version 1, revision 3)\n')

    one = hq("get", ns, "limits")
    assert (one.returncode, one.stdout) == (0, 'limits = {"rps": 20, "burst": 5} (version 2, revision 2)\n')
    table = hq("get", ns)
    assert table.returncode == 0
    header, *rows = lines(table.stdout)[1:]
    assert lines(table.stdout)[0] == f"{ns} at revision 3"
    assert header.split() == ["NAME", "VERSION", "UPDATED", "VALUE"]
    assert [row.split()[:2] for row in rows] == [["color", "1"], ["limits", "2"]]
    assert rows[1].endswith('{"rps": 20, "burst": 5}')

    history = hq("history", ns, "limits")
    assert history.returncode == 0
    header, newer, older = lines(history.stdout)
    assert header.split() == ["VERSION", "CREATED", "BY", "VALUE", "COMMENT"]
    assert newer.split()[0] == "2" and user.username in newer and '{"rps": 20, "burst": 5}' in newer
    assert older.split()[0] == "1" and older.endswith("initial")

    diff = hq("diff", ns, "limits", "--from", "1", "--to", "2")
    assert (diff.returncode, lines(diff.stdout)) == (0, ["limits: version 1 -> version 2", "~ /rps = 20"])

    rollback = hq("rollback", ns, "limits", "--to", "1", "--comment", "back")
    assert rollback.returncode == 0
    assert rollback.stdout == 'limits = {"rps": 10, "burst": 5} (version 3, revision 4, rolled back to version 1)\n'

    deleted = hq("delete", ns, "color")
    assert (deleted.returncode, deleted.stdout) == (0, f"deleted color from {ns}\n")
    assert active_values(namespace) == {"limits": {"rps": 10, "burst": 5}}

    listing = hq("namespaces")
    assert listing.returncode == 0
    assert lines(listing.stdout)[0].split() == ["NAMESPACE", "REVISION", "PRODUCTION", "CREATED"]
    assert [row.split()[:2] for row in lines(listing.stdout)[1:]] == [[ns, "5"]]


def test_json_flag__each_command__prints_the_api_json(hq, session):
    namespace, _ = session
    ns = namespace.path
    written = hq("--json", "set", ns, "flag", "true")
    assert written.returncode == 0
    created = json.loads(written.stdout)
    assert created["namespace"] == ns and created["name"] == "flag" and created["value"] is True
    assert created["version"] == 1 and created["revision"] == 1 and created["deleted"] is False
    hq("set", ns, "flag", "false")
    snapshot = json.loads(hq("get", ns, "--json").stdout)  # after the command works too
    assert snapshot["revision"] == 2 and snapshot["configs"][0]["value"] is False
    history = json.loads(hq("--json", "history", ns, "flag").stdout)
    assert history["count"] == 2 and [item["version"] for item in history["results"]] == [2, 1]
    diff = json.loads(hq("--json", "diff", ns, "flag", "--from", "1", "--to", "2").stdout)
    assert diff == {"from": 1, "to": 2, "patch": [{"op": "replace", "path": "", "value": False}]}
    listing = json.loads(hq("--json", "namespaces").stdout)
    assert [item["namespace"] for item in listing["results"]] == [ns]


def test_set__stale_if_version__exit_1_and_one_precondition_line(hq, session):
    namespace, _ = session
    for value in ("1", "2"):
        assert hq("set", namespace.path, "timeout", value).returncode == 0
    stale = hq("set", namespace.path, "timeout", "3", "--if-version", "1")
    assert stale.returncode == 1 and stale.stdout == ""
    assert stale.stderr == "hq: 412 precondition_failed: The config is at version 2, not 1.\n"
    assert active_values(namespace) == {"timeout": 2}


@pytest.mark.parametrize("setting", ["garbage token", "unreachable server"])
def test_get__bad_token_or_unreachable_server__exit_1_and_one_stderr_line(hq, make_namespace, setting):
    namespace = make_namespace()
    if setting == "garbage token":
        result = hq("get", namespace.path, extra_env={"NOREBOOT_TOKEN": "garbage"})
        assert result.stderr.startswith("hq: 401 ")
    else:
        result = hq("--url", "http://127.0.0.1:9", "get", namespace.path, extra_env={"NOREBOOT_TOKEN": "garbage"})
        assert result.stderr.startswith("hq: cannot reach http://127.0.0.1:9: ")
    assert result.returncode == 1 and result.stdout == ""
    assert len(lines(result.stderr)) == 1 and "Traceback" not in result.stderr


def test_cli__bad_usage__exit_2_with_usage_on_stderr(hq):
    for args in ([], ["get"], ["get", "not-a-namespace"], ["set", "a/b/c", "name"], ["frobnicate"],
                 ["diff", "a/b/c", "name", "--from", "one", "--to", "2"], ["login", "--password-stdin"]):
        result = hq(*args, stdin="")
        assert (result.returncode, result.stdout) == (2, ""), args
        assert "usage: hq" in result.stderr and "Traceback" not in result.stderr, args


def test_session__expired_access_token__renewed_once_and_rotated_refresh_saved(hq, session):
    namespace, _ = session
    path = hq.config_dir / "noreboot" / "credentials.json"
    stored = json.loads(path.read_text())
    path.write_text(json.dumps({**stored, "access": "expired"}))
    result = hq("set", namespace.path, "timeout", "2.5")
    assert result.returncode == 0, result.stderr
    renewed = json.loads(path.read_text())
    assert renewed["access"] not in ("expired", stored["access"]) and renewed["refresh"] != stored["refresh"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _reader(stream, into: queue.Queue) -> threading.Thread:
    thread = threading.Thread(target=lambda: [into.put(line) for line in iter(stream.readline, "")], daemon=True)
    thread.start()
    return thread


def _line_matching(lines_: queue.Queue, predicate, deadline: float) -> str:
    while True:
        try:
            line = lines_.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail("hq watch printed nothing matching in time")
        if predicate(line):
            return line


def test_watch__change_by_another_process__printed_as_one_line(hq, session, relay, change_context):
    namespace, _ = session
    config_set(namespace=namespace, name="timeout", value=1.5, context=change_context)
    # A person's login has no Kafka principal: hq watch follows the API.
    watch = hq("watch", namespace.path, popen=True)
    try:
        stdout, stderr = queue.Queue(), queue.Queue()
        _reader(watch.stdout, stdout)
        _reader(watch.stderr, stderr)
        deadline = time.monotonic() + 60
        ready = _line_matching(stderr, lambda line: line.startswith("watching"), deadline)
        assert ready == f"watching {namespace.path} at revision 1 (Ctrl-C to stop)\n"
        other = hq("set", namespace.path, "timeout", "2.5")  # another process
        assert other.returncode == 0, other.stderr
        change = _line_matching(stdout, lambda line: True, deadline)
        assert change == "timeout: 1.5 -> 2.5 (revision 2)\n"
        config_delete(namespace=namespace, name="timeout", context=change_context)
        assert _line_matching(stdout, lambda line: True, deadline) == "timeout: 2.5 -> (none) (revision 3)\n"
    finally:
        watch.terminate()
        code = watch.wait(timeout=20)
    assert code == 0


def test_export_import__into_empty_namespace__every_active_value_reproduced(hq, session, make_namespace, grant,
                                                                           tmp_path, change_context):
    source, user = session
    values = {"timeout": 1.5, "new_checkout": True, "color": "blue", "limits": {"rps": [1, 2], "mode": None}}
    for name, value in values.items():
        config_set(namespace=source, name=name, value=value, context=change_context)
    config_set(namespace=source, name="gone", value=1, context=change_context)
    config_delete(namespace=source, name="gone", context=change_context)
    target = make_namespace(environment="staging")
    grant(user, target, "editor")

    exported = hq("export", source.path)
    assert exported.returncode == 0
    assert json.loads(exported.stdout) == {"namespace": source.path, "revision": 6, "configs": values}
    file = tmp_path / "export.json"
    file.write_text(exported.stdout)

    dry = hq("import", target.path, str(file), "--dry-run")
    assert dry.returncode == 0 and active_values(target) == {}
    assert lines(dry.stdout)[-1] == f"dry run on {target.path}: 4 to create, 0 to update, 0 unchanged; nothing written"
    assert sorted(lines(dry.stdout)[:-1]) == sorted(f"+ {name} = {json.dumps(value)}" for name, value in values.items())

    applied = hq("import", target.path, str(file))
    assert applied.returncode == 0, applied.stderr
    assert lines(applied.stdout)[-1] == f"imported into {target.path}: 4 created, 0 updated, 0 unchanged (revision 4)"
    assert active_values(target) == values
    again = hq("import", target.path, str(file))
    assert lines(again.stdout) == [f"imported into {target.path}: 0 created, 0 updated, 4 unchanged (revision 4)"]


def test_import__one_invalid_entry__nothing_written_and_entry_named(hq, session, tmp_path, change_context):
    namespace, _ = session
    config_set(namespace=namespace, name="timeout", value=1.5, context=change_context)
    file = tmp_path / "import.json"
    file.write_text(json.dumps({"configs": {"timeout": 3, "fresh": True, "bad name!": 1}}))
    before = Configuration.objects.filter(namespace=namespace).count()

    result = hq("import", namespace.path, str(file))
    assert result.returncode == 1 and result.stdout == ""
    assert len(lines(result.stderr)) == 1
    assert result.stderr.startswith("hq: 400 invalid: 1 entries are invalid; nothing was imported. configs.bad name!: ")
    assert Configuration.objects.filter(namespace=namespace).count() == before
    namespace.refresh_from_db()
    assert namespace.revision == 1 and active_values(namespace) == {"timeout": 1.5}


def test_apply__two_namespaces_then_a_bad_change__one_changeset_then_exit_1_and_nothing_written(
    hq, session, make_namespace, grant, tmp_path
):
    namespace, user = session
    other = make_namespace(namespace.tenant, "stage")
    grant(user, other, "editor")
    changes = tmp_path / "changes.json"
    changes.write_text(json.dumps({"comment": "together", "changes": [
        {"namespace": namespace.path, "name": "limit", "op": "set", "value": 100},
        {"namespace": other.path, "name": "limit", "op": "set", "value": 100},
    ]}))
    applied = hq("--json", "apply", str(changes))
    assert applied.returncode == 0, applied.stderr
    assert json.loads(applied.stdout)["revisions"] == {namespace.path: 1, other.path: 1}
    changes.write_text(json.dumps([
        {"namespace": namespace.path, "name": "limit", "op": "set", "value": 5},
        {"namespace": other.path, "name": "limit", "op": "set", "value": 5, "expected_version": 9},
    ]))
    refused = hq("apply", str(changes))
    assert refused.returncode == 1 and "changes[1]" in refused.stderr
    assert active_values(namespace) == {"limit": 100} and active_values(other) == {"limit": 100}
    changes.write_text(json.dumps([{"namespace": namespace.path, "name": "limit", "op": "set", "value": 5}]))
    table = hq("apply", str(changes), "--request")
    assert table.returncode == 0 and "change request" in table.stdout and "approval" in table.stdout
