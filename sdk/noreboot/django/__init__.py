"""Live configuration for Django services: one ``ConfigClient`` per process,
started from ``settings.NOREBOOT``, read where settings are read today.

    # settings.py
    INSTALLED_APPS = [..., "noreboot.django"]      # adds the system check
    NOREBOOT = {
        "NAMESPACE": "acme/prod/checkout",
        "URL": "https://config.example.internal",
        "TOKEN": os.environ["NOREBOOT_TOKEN"],
        "DEFAULTS": {"timeout": 1.0, "new_checkout": False},
    }

    # anywhere
    from noreboot.django import live
    live.timeout                  # the live value, or its default; typed by the default
    live.get_int("retries", 3)    # the client's typed getters

Only Django users import this module; ``import noreboot`` never imports Django.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django.conf import settings

from noreboot.client import ConfigClient

# ConfigClient's own keyword for each key of settings.NOREBOOT.
CLIENT_SETTINGS = {
    "NAMESPACE": "namespace",
    "URL": "api_url",
    "TOKEN": "token",
    "KAFKA_BOOTSTRAP": "kafka_bootstrap",
    "CACHE_DIR": "cache_dir",
}
# Keys the client can also take from its environment variables (ConfigClient's docstring).
REQUIRED_SETTINGS = {"NAMESPACE": "NOREBOOT_NAMESPACE", "URL": "NOREBOOT_URL", "TOKEN": "NOREBOOT_TOKEN"}

_GETTER_FOR_DEFAULT = {bool: "get_bool", int: "get_int", float: "get_float", str: "get_str", dict: "get_json",
                       list: "get_json"}

_lock = threading.Lock()
_client: ConfigClient | None = None
_client_pid: int | None = None


def noreboot_settings() -> dict[str, Any]:
    return dict(getattr(settings, "NOREBOOT", None) or {})


def get_client() -> ConfigClient:
    """This process's started client, made on first use.

    A forked process (a gunicorn worker of an app preloaded in its master)
    must not share its parent's client, whose listener thread did not fork
    with it: it gets a client of its own.
    """
    global _client, _client_pid
    client = _client
    if client is not None and _client_pid == os.getpid():
        return client
    with _lock:
        if _client is None or _client_pid != os.getpid():
            config = noreboot_settings()
            options = {keyword: config[key] for key, keyword in CLIENT_SETTINGS.items() if key in config}
            options.update(config.get("OPTIONS", {}))
            _client = ConfigClient(**options).start()
            _client_pid = os.getpid()
        return _client


def close_client() -> None:
    """Stop this process's client (tests, or a worker that shuts down); the next read starts a new one."""
    global _client
    with _lock:
        client, _client = _client, None
    if client is not None:
        client.close()


class LiveConfig:
    """Attribute access to live values: ``live.timeout`` is the config
    ``timeout`` of the namespace, else ``NOREBOOT["DEFAULTS"]["timeout"]``.

    With a default, the value must have the default's type (a JSON number is
    fine for a float), else the default is used and a warning logged once;
    without one, any value is returned and a missing one raises AttributeError,
    as Django's settings do.
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        client = get_client()
        defaults = noreboot_settings().get("DEFAULTS", {})
        if name in defaults:
            default = defaults[name]
            getter = _GETTER_FOR_DEFAULT.get(type(default))
            return getattr(client, getter)(name, default) if getter else client.get(name, default)
        value = client.get(name)
        if value is None:
            raise AttributeError(f"no config {name!r} in {client.namespace} and no default in NOREBOOT['DEFAULTS']")
        return value

    def get(self, name: str, default: Any = None) -> Any:
        return get_client().get(name, default)

    def get_int(self, name: str, default: int | None = None) -> int | None:
        return get_client().get_int(name, default)

    def get_float(self, name: str, default: float | None = None) -> float | None:
        return get_client().get_float(name, default)

    def get_bool(self, name: str, default: bool | None = None) -> bool | None:
        return get_client().get_bool(name, default)

    def get_str(self, name: str, default: str | None = None) -> str | None:
        return get_client().get_str(name, default)

    def get_json(self, name: str, default: Any = None) -> Any:
        return get_client().get_json(name, default)


live = LiveConfig()
