"""Where ``hq login`` keeps its session: ``$XDG_CONFIG_HOME/noreboot/credentials.json``.

The file holds ``{url, username, access, refresh}``; it is written atomically
with mode 0600 in a directory with mode 0700, because the refresh token is as
good as the password until it expires.
"""

import json
import os
import tempfile
from pathlib import Path
from typing import Any


class CredentialsError(Exception):
    """The credentials file exists but cannot be read or written."""


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    # The XDG spec says a relative value is invalid and must be ignored.
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return root / "noreboot" / "credentials.json"


def load_credentials(path: Path | None = None) -> dict[str, Any] | None:
    """The stored session, or ``None`` if nobody logged in."""
    path = path or credentials_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        stored = json.loads(text)
    except ValueError as exc:
        raise CredentialsError(f"{path} is not valid JSON; run `hq login` again") from exc
    if not isinstance(stored, dict) or not isinstance(stored.get("access"), str):
        raise CredentialsError(f"{path} holds no session; run `hq login` again")
    return stored


def save_credentials(stored: dict[str, Any], path: Path | None = None) -> Path:
    """Write the session atomically: 0700 directory, 0600 file (never readable by others, even briefly)."""
    path = path or credentials_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        # mkstemp creates the file 0600; replace() swaps it in whole.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".credentials-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(stored, file, indent=2)
                file.write("\n")
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CredentialsError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
