"""noreboot.django in a real Django client service (tests/django_service) under
gunicorn with two workers, against the live API, relay and Kafka."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from apps.configs.services import config_set
from apps.tenants.services import service_token_create
from tests.support.processes import PlatformProcess, free_port

pytestmark = pytest.mark.django_db(transaction=True)

SERVICE_DIR = Path(__file__).resolve().parent / "django_service"


def service_env(**noreboot: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("NOREBOOT_")}
    env.update(DJANGO_SETTINGS_MODULE="client_service.settings", PYTHONPATH=str(SERVICE_DIR), **noreboot)
    return env


class ClientService(PlatformProcess):
    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env)
        self.url = f"http://127.0.0.1:{free_port()}"
        self.command = [
            str(Path(sys.executable).parent / "gunicorn"), "--workers", "2", "--bind", self.url.removeprefix("http://"),
            "--chdir", str(SERVICE_DIR), "client_service.wsgi:application",
        ]

    def read(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/timeout/", timeout=10) as response:
            return json.loads(response.read())

    def values_by_worker(self, requests: int = 8) -> dict[int, float]:
        """What each worker that answered serves. Concurrent requests, as each
        sync worker takes one at a time, so both workers answer."""
        with ThreadPoolExecutor(max_workers=requests) as pool:
            answers = list(pool.map(lambda _: self.read(), range(requests)))
        return {answer["pid"]: answer["timeout"] for answer in answers}

    def wait_until_workers_serve(self, value: float, timeout: float = 30) -> dict[int, float]:
        deadline = time.monotonic() + timeout
        seen: dict[int, float] = {}
        while time.monotonic() < deadline:
            try:
                seen.update(self.values_by_worker())
            except OSError:  # not listening yet
                time.sleep(0.1)
                continue
            if len(seen) == 2 and set(seen.values()) == {value}:
                return seen
            time.sleep(0.05)
        raise AssertionError(f"workers serve {seen}, not {value}: {self.output()[-6000:]}")


def test_django_service__value_changed_through_the_api__both_gunicorn_workers_see_it(
    live_server, relay, make_namespace, change_context, make_user, grant, client_for
):
    namespace = make_namespace()
    config_set(namespace=namespace, name="timeout", value=1.5, context=change_context)
    _, token = service_token_create(namespace=namespace, name="django-service", context=change_context)
    service = ClientService(service_env(
        NOREBOOT_URL=live_server.url, NOREBOOT_NAMESPACE=namespace.path, NOREBOOT_TOKEN=token
    ))
    service.start()
    try:
        first = service.wait_until_workers_serve(1.5)
        editor = make_user()
        grant(editor, namespace, "editor")

        response = client_for(editor).put(
            f"/api/v1/namespaces/{namespace.path}/configs/timeout/", {"value": 2.5}, format="json"
        )

        assert response.status_code == 201
        # The same two processes, not restarted: each reads the new value.
        assert set(service.wait_until_workers_serve(2.5)) == set(first)
    finally:
        service.stop()


def check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "django", "check"], env=env, cwd=SERVICE_DIR, capture_output=True, text=True,
        timeout=60,
    )


def test_django_check__settings_complete__passes():
    result = check(service_env(
        NOREBOOT_URL="http://127.0.0.1:9", NOREBOOT_NAMESPACE="acme/prod/checkout", NOREBOOT_TOKEN="nrb_x"
    ))

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_django_check__token_missing__fails_naming_the_setting():
    result = check(service_env(NOREBOOT_URL="http://127.0.0.1:9", NOREBOOT_NAMESPACE="acme/prod/checkout"))

    assert result.returncode != 0
    assert "noreboot.E001" in result.stderr and "TOKEN" in result.stderr


def test_import__noreboot_and_its_openfeature_provider__do_not_import_django():
    code = (
        "import sys, noreboot, noreboot.openfeature; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"
