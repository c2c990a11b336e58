"""The Dockerfile and docker-compose.yml, checked statically: no Docker engine
runs here, so nothing is built or started. hadolint lints the Dockerfile;
explicit checks cover what the project promises about the image and compose."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_SERVICES = ("api", "relay", "webhooks", "acks", "demo-client")


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (instruction, arguments), with
    continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_dockerfile__hadolint__no_findings():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint is a dev dependency (pyproject.toml): `make test` installs it"

    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile__stages__slim_base_multi_stage_non_root_and_no_build_tools():
    stages = dockerfile_stages()
    final = stages[-1]

    assert len(stages) >= 2
    assert all(re.fullmatch(r"python:3\.11-slim( AS \w+)?", stage[0][1]) for stage in stages)
    copies_from_builder = [args for instruction, args in final if instruction == "COPY" and "--from=" in args]
    assert copies_from_builder == ["--from=builder /opt/venv /opt/venv"]
    users = [args for instruction, args in final if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    final_runs = " ".join(args for instruction, args in final if instruction == "RUN")
    assert not re.search(r"apt-get install|build-essential|gcc|pip install", final_runs)
    builder_runs = " ".join(args for instruction, args in stages[0] if instruction == "RUN")
    # The platform's pinned dependencies and the SDK, installed from this repository.
    assert re.search(r'pip install --no-cache-dir \. "\./sdk\[openfeature\]"', builder_runs)


def test_dockerfile__copied_paths__exist_and_ignored_ones_stay_out():
    for stage in dockerfile_stages():
        for instruction, args in stage:
            if instruction != "COPY" or "--from=" in args:
                continue
            *sources, _destination = [part for part in args.split() if not part.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".local", ".venv", "tests"} <= set(ignored)


def test_compose__platform_services__run_the_built_image_without_installing_at_start(compose):
    services = compose["services"]

    for name in PLATFORM_SERVICES:
        service = services[name]
        assert service["build"] == "." and service["image"] == "noreboot-hq:local", name
        command = service["command"] if isinstance(service["command"], str) else " ".join(service["command"])
        assert "pip install" not in command, name
        # The code comes from the image, not from a mount of the work tree.
        assert not any(str(volume).startswith("./") for volume in service.get("volumes", [])), name
    assert "deliver_webhooks" in services["webhooks"]["command"]
    assert "collect_acks" in services["acks"]["command"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_compose__kafka__secured_as_the_local_scripts_secure_it(compose):
    services = compose["services"]
    platform_env = services["api"]["environment"]

    assert services["kafka"]["entrypoint"] == ["bash", "/app/scripts/kafka.sh", "run"]
    assert "kafka_secrets.sh" in services["kafka-secrets"]["command"]
    assert platform_env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    assert platform_env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert platform_env["KAFKA_SASL_PASSWORD_FILE"].startswith("/kafka-home/")
    assert platform_env["KAFKA_CLIENT_BOOTSTRAP_SERVERS"] == "kafka:9094"
    assert platform_env["KAFKA_CA_FILE"] == "/kafka-home/tls/ca.pem"
    template = (ROOT / "deploy" / "kafka" / "server.properties.template").read_text()
    assert "allow.everyone.if.no.acl.found=false" in template
    assert "CLIENT:SASL_SSL" in template and "INTERNAL:SASL_PLAINTEXT" in template
