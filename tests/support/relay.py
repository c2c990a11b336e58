"""The relay as a real process (`manage.py relay_outbox`) for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


class RelayProcess:
    def __init__(self, database_name: str) -> None:
        database = settings.DATABASES["default"]
        self._env = dict(
            os.environ,
            DATABASE_URL=(
                f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT']}/{database_name}"
            ),
            # Tests wait on real conditions; a fast safety-net poll keeps them short.
            NOREBOOT_OUTBOX_POLL_SECONDS="1",
        )
        self.process: subprocess.Popen | None = None
        # A file, not a pipe: nobody reads while the test runs, and a full pipe would block the relay.
        self._log = tempfile.TemporaryFile(mode="w+")

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "relay_outbox"],
            env=self._env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """SIGKILL: no chance to flush, mark or release anything."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> str:
        """Stop gracefully; returns everything it logged."""
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
        return self.output()

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read()
