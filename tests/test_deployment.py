"""Keys and deployment (issue 16, points 1 and 4): random keys made once, weak
keys refused at start, `check --deploy` clean in production, no default secret
in docker-compose.yml, Swagger UI served from the project."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jwt
import pytest
import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from tests.conftest import bearer_client
from tests.support.processes import ApiServer, free_port, http_call

ROOT = Path(__file__).resolve().parents[1]
# The defaults the repository once shipped, so every installation shared them.
PUBLISHED_SECRET_KEY = "dev-only-secret-key-change-me-in-production"
PUBLISHED_JWT_KEY = "dev-only-jwt-signing-key-change-me-in-production"
PRODUCTION = {
    "NOREBOOT_HTTPS": "true", "NOREBOOT_HSTS_SECONDS": "31536000", "NOREBOOT_HSTS_PRELOAD": "true",
    "NOREBOOT_PROXY_SSL_HEADER": "X-Forwarded-Proto", "NOREBOOT_TRUSTED_PROXIES": "10.0.0.0/8",
    "NOREBOOT_ALLOWED_HOSTS": "hq.example.com",
}


def platform_command(args: list[str], timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "NOREBOOT_DEBUG"}
    environment.update(env)
    return subprocess.run(args, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return platform_command([sys.executable, "manage.py", *args], **env)


def test_keys_script__fresh_folder__random_keys_made_once_and_kept(tmp_path):
    folders = [tmp_path / "one", tmp_path / "two"]
    for folder in folders:
        done = subprocess.run(["bash", "scripts/keys.sh"], cwd=ROOT, env={**os.environ, "NOREBOOT_KEYS_DIR": str(folder)},
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
    names = ("secret-key", "jwt-signing-key", "admin-password", "demo-password")
    first = {name: (folders[0] / name).read_text() for name in names}
    assert len(first["secret-key"]) >= 50 and len(first["jwt-signing-key"]) >= 50
    assert first["secret-key"] != first["jwt-signing-key"]
    assert all(stat.S_IMODE((folders[0] / name).stat().st_mode) == 0o600 for name in names)
    assert first != {name: (folders[1] / name).read_text() for name in names}  # random per installation

    subprocess.run(["bash", "scripts/keys.sh"], cwd=ROOT, env={**os.environ, "NOREBOOT_KEYS_DIR": str(folders[0])},
                   check=True, timeout=30)
    assert first == {name: (folders[0] / name).read_text() for name in names}  # kept: Kafka passwords derive from it


def test_make__targets_that_start_the_platform__make_the_keys_first():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("services", "schema"):
        prerequisites = re.search(rf"^{target}:(.*)$", makefile, re.MULTILINE).group(1).split()
        assert "keys" in prerequisites, target
    assert re.search(r"^keys:\n\t@bash scripts/keys.sh$", makefile, re.MULTILINE)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        pytest.param("NOREBOOT_SECRET_KEY", "", id="secret-empty"),
        pytest.param("NOREBOOT_SECRET_KEY", PUBLISHED_SECRET_KEY, id="secret-published"),
        pytest.param("NOREBOOT_SECRET_KEY", "short-but-not-empty", id="secret-short"),
        pytest.param("NOREBOOT_JWT_SIGNING_KEY", PUBLISHED_JWT_KEY, id="jwt-published"),
        pytest.param("NOREBOOT_SECRET_KEYS", "", id="secret-values-empty"),
        pytest.param("NOREBOOT_SECRET_KEYS", "not-a-hex-aes-key-" * 4, id="secret-values-malformed"),
        pytest.param("NOREBOOT_SECRET_FINGERPRINT_KEY", "short", id="secret-fingerprint-short"),
    ],
)
def test_start__weak_key_and_debug_off__refused_with_one_line_naming_it(tmp_path, variable, value):
    done = manage("check", **{variable: value, f"{variable}_FILE": str(tmp_path / "no-such-file")})

    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], done.stderr


def test_start__weak_key_under_the_api_server__stops_at_once_with_the_line():
    done = platform_command(
        [sys.executable, "deploy/serve.py"], timeout=30,
        NOREBOOT_SECRET_KEY=PUBLISHED_SECRET_KEY, NOREBOOT_BIND=f"127.0.0.1:{free_port()}",
    )

    assert done.returncode != 0
    assert "NOREBOOT_SECRET_KEY is a published default" in done.stderr


def worker_pids(server_pid: int) -> set[int]:
    """The server's child processes, from /proc."""
    children = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == server_pid:
                children.add(int(entry.name))
        except OSError:
            continue
    return children


def test_api_server__a_worker_killed__another_started_and_the_api_answers(settings):
    api = ApiServer(settings.DATABASES["default"]["NAME"], workers=2)
    api.start()
    try:
        workers = worker_pids(api.process.pid)
        assert len(workers) == 2
        killed = min(workers)
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while (killed in worker_pids(api.process.pid) or len(worker_pids(api.process.pid)) < 2) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        now = worker_pids(api.process.pid)
        answers = [http_call(f"{api.url}/healthz")[0] for _ in range(4)]
    finally:
        api.stop()
    assert killed not in now and len(now) == 2
    assert answers == [200] * 4


def test_api_server__its_process_environment__never_read_as_the_request_s(settings):
    api = ApiServer(settings.DATABASES["default"]["NAME"], workers=1, HTTP_X_REQUEST_ID="from-the-environment")
    api.start()
    try:
        with urllib.request.urlopen(f"{api.url}/healthz", timeout=10) as response:
            without_header = response.headers["X-Request-ID"]
        request = urllib.request.Request(f"{api.url}/healthz", headers={"X-Request-ID": "from-the-client"})
        with urllib.request.urlopen(request, timeout=10) as response:
            with_header = response.headers["X-Request-ID"]
    finally:
        api.stop()
    assert re.fullmatch(r"[0-9a-f]{32}", without_header), without_header
    assert with_header == "from-the-client"


def test_start__weak_key_with_debug_on__allowed_for_development():
    assert manage("check", NOREBOOT_DEBUG="true", NOREBOOT_SECRET_KEY="short").returncode == 0


def test_settings__keys_of_this_installation__long_random_and_not_published():
    signing_key = settings.SIMPLE_JWT["SIGNING_KEY"]
    for key in (settings.SECRET_KEY, signing_key):
        assert len(key) >= 50 and key not in (PUBLISHED_SECRET_KEY, PUBLISHED_JWT_KEY, "change-me", "change-me-too")


@pytest.mark.django_db
def test_jwt__signed_with_the_published_default_key__401(make_user):
    superuser = make_user(is_superuser=True, is_staff=True)
    claims = {
        "token_type": "access", "user_id": str(superuser.pk), "jti": "f" * 32, "exp": 4102444800, "iat": 1700000000,
        "aud": settings.SIMPLE_JWT["AUDIENCE"], "iss": settings.SIMPLE_JWT["ISSUER"],
    }
    forged = jwt.encode(claims, PUBLISHED_JWT_KEY, algorithm="HS256")

    assert bearer_client(forged).get("/api/v1/tenants/").status_code == 401


def test_check_deploy__production_environment__no_issue():
    done = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_settings__production_environment__secure_cookies_hsts_and_proxy_header():
    probe = (
        "import django, json; django.setup(); from django.conf import settings as s; print(json.dumps(["
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS,"
        " s.SECURE_PROXY_SSL_HEADER, s.TRUSTED_PROXIES]))"
    )
    done = platform_command([sys.executable, "-c", probe], PYTHONPATH="platform",
                            DJANGO_SETTINGS_MODULE="config_service.settings", **PRODUCTION)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == (
        '[true, true, true, 31536000, ["HTTP_X_FORWARDED_PROTO", "https"], ["10.0.0.0/8"]]'
    )


def test_docker_compose__no_working_default_secret():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    secret_name = re.compile(r"SECRET|KEY|PASSWORD|TOKEN")
    required_reference = re.compile(r"\$\{[A-Z_]+:\?[^}]*\}")
    for name, service in compose["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            value = str(value)
            if variable.endswith(("_FILE", "_DIR")) or not secret_name.search(variable):
                continue
            # A secret is either demanded from whoever starts the stack, or the
            # client's token, which `docker compose logs api` prints.
            assert required_reference.fullmatch(value) or variable == "NOREBOOT_TOKEN", (name, variable, value)
    database_url = compose["services"]["api"]["environment"]["DATABASE_URL"]
    assert required_reference.search(database_url), database_url
    platform = compose["services"]["api"]["environment"]
    assert platform["NOREBOOT_SECRET_KEY_FILE"].startswith("/keys/")
    assert platform["NOREBOOT_JWT_SIGNING_KEY_FILE"].startswith("/keys/")
    assert "scripts/keys.sh" in compose["services"]["kafka-secrets"]["command"]


@pytest.mark.django_db
def test_demo_setup__new_installation__staff_password_of_the_installation_not_a_published_one(settings):
    settings.DEMO_ADMIN_PASSWORD = "installation-admin-password"
    settings.DEMO_USER_PASSWORD = "installation-demo-password"
    users = get_user_model().objects
    users.filter(username__in=["admin", "demo"]).delete()

    call_command("demo_setup", stdout=open(os.devnull, "w"))

    staff = users.get(username="admin")
    assert staff.check_password("installation-admin-password") and not staff.check_password("admin-password")
    assert users.get(username="demo").check_password("installation-demo-password")


@pytest.mark.django_db
def test_swagger_ui__assets__served_by_the_project_not_a_cdn():
    client = Client()
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)

    assert assets and all(asset.startswith("/static/") for asset in assets), assets
    # A CDN's host, not the letters: the page's random CSRF token may hold "cdn".
    assert "//" not in "".join(assets) and not re.search(r"cdn[./-]|jsdelivr|unpkg", html.lower())
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
