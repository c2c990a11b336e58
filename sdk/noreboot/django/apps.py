from django.apps import AppConfig
from django.core import checks


class NoRebootConfig(AppConfig):
    name = "noreboot.django"
    label = "noreboot"
    verbose_name = "No-Reboot HQ live configuration"

    def ready(self) -> None:
        from noreboot.django.checks import check_settings

        checks.register(check_settings, checks.Tags.compatibility)
