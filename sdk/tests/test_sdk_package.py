import subprocess
import sys

import noreboot


def test_import__noreboot__does_not_import_django():
    code = "import sys, noreboot; print('django' in sys.modules or any(m.startswith('django.') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "False"


def test_package__public_names__exported():
    for name in (
        "ClientStatus",
        "ConfigClient",
        "NoRebootError",
        "ApiError",
        "ApiUnavailable",
        "AuthenticationError",
        "NamespaceNotFound",
        "SnapshotUnavailable",
    ):
        assert name in noreboot.__all__
        assert hasattr(noreboot, name)
