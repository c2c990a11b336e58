"""``manage.py check``: a service must not deploy without what its client needs."""

from __future__ import annotations

import os

from django.core import checks

from noreboot.django import CLIENT_SETTINGS, REQUIRED_SETTINGS, noreboot_settings


def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    config = noreboot_settings()
    problems: list[checks.CheckMessage] = []
    for key, env_var in REQUIRED_SETTINGS.items():
        if not config.get(key) and not os.environ.get(env_var):
            problems.append(checks.Error(
                f"settings.NOREBOOT has no {key!r} and {env_var} is not set",
                hint=f"Add NOREBOOT = {{{key!r}: ...}} to the settings, or set {env_var}.",
                id="noreboot.E001",
            ))
    allowed = {*CLIENT_SETTINGS, "OPTIONS", "DEFAULTS"}
    for key in sorted(set(config) - allowed):
        problems.append(checks.Error(
            f"settings.NOREBOOT has the unknown key {key!r}",
            hint=f"Known keys: {', '.join(sorted(allowed))}.",
            id="noreboot.E002",
        ))
    if not isinstance(config.get("DEFAULTS", {}), dict):
        problems.append(checks.Error("settings.NOREBOOT['DEFAULTS'] must be a dict", id="noreboot.E003"))
    return problems
