"""Fixtures for the SDK's unit tests: no Kafka and no real config service."""

import socket

import pytest
from stub_snapshot_api import SnapshotServer


@pytest.fixture
def snapshot_server():
    server = SnapshotServer()
    yield server
    server.close()


@pytest.fixture
def closed_port_url():
    """A URL on which nothing listens: connection refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def no_noreboot_environment(monkeypatch):
    for name in (
        "NOREBOOT_NAMESPACE",
        "NOREBOOT_URL",
        "NOREBOOT_TOKEN",
        "NOREBOOT_KAFKA_BOOTSTRAP",
        "NOREBOOT_CACHE_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
