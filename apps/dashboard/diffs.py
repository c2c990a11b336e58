"""What a change does to a value: shown before it is saved, and between two versions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from apps.configs.diffs import value_patch, value_preview


def _text(value: Any, exists: bool) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) if exists else "(none)"


def _short(value: Any, exists: bool) -> str:
    return value_preview(value) if exists else "(none)"


@dataclass(frozen=True)
class ValueDiff:
    before: Any
    after: Any
    # A config that does not exist yet, or a deletion, has no value at all (not null).
    before_exists: bool = True
    after_exists: bool = True

    @property
    def changed(self) -> bool:
        return self.before_exists != self.after_exists or self.patch != []

    @property
    def patch(self) -> list[dict]:
        """RFC 6902 operations from before to after, as the API's diff endpoint gives them."""
        return value_patch(self.before if self.before_exists else None, self.after if self.after_exists else None)

    @property
    def before_text(self) -> str:
        return _text(self.before, self.before_exists)

    @property
    def after_text(self) -> str:
        return _text(self.after, self.after_exists)

    @property
    def before_short(self) -> str:
        return _short(self.before, self.before_exists)

    @property
    def after_short(self) -> str:
        return _short(self.after, self.after_exists)
