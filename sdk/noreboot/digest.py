"""The digest of a namespace's values, as the config service puts it in the snapshot (``digest``).

The service computes it with this exact function, so a client holding the
same values at the same revision gets the same hex string: a mismatch means
the client holds something the database never had (a forged or damaged
event), which it repairs by installing the served snapshot.
"""

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def config_digest(values: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of ``{name: value}``: sorted keys, no spaces, UTF-8."""
    canonical = json.dumps(
        values if isinstance(values, dict) else dict(values),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
