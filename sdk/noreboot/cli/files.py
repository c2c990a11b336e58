"""The files ``hq`` reads and writes: JSON input, and the session ``hq login`` keeps.

The session lives in ``$XDG_CONFIG_HOME/noreboot/credentials.json`` as
``{url, username, access, refresh}``; it is written atomically with mode 0600
in a directory with mode 0700, because the refresh token is as good as the
password until it expires.
"""

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from noreboot.cli.errors import HqError


def read_json_file(name: str | Path, *, missing_ok: bool = False) -> Any:
    """The JSON in file ``name`` (``-``: stdin); None if it is absent and ``missing_ok``."""
    try:
        text = sys.stdin.read() if str(name) == "-" else Path(name).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        if missing_ok:
            return None
        raise HqError(f"cannot read {name}: {exc.strerror or exc}") from exc
    except OSError as exc:
        raise HqError(f"cannot read {name}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise HqError(f"{name} is not UTF-8 text") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise HqError(f"{name} is not JSON: {exc}") from exc


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    # The XDG spec says a relative value is invalid and must be ignored.
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return root / "noreboot" / "credentials.json"


def load_credentials(path: Path | None = None) -> dict[str, Any] | None:
    """The stored session, or ``None`` if nobody logged in."""
    path = path or credentials_path()
    stored = read_json_file(path, missing_ok=True)
    if stored is None:
        return None
    if not isinstance(stored, dict) or not isinstance(stored.get("access"), str):
        raise HqError(f"{path} holds no session; run `hq login` again")
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
        raise HqError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
