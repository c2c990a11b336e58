"""Read-only JSON containers, so a value read from a client cannot change the shared snapshot.

Objects and arrays are frozen once, when a snapshot is built, instead of
copied at every read: ``get()`` stays ``dict.get``. The frozen types are
``dict`` and ``list`` subclasses, so ``isinstance``, ``json.dumps`` and
equality work as before; only changing them raises ``TypeError``.
``copy.copy`` / ``copy.deepcopy`` (or ``dict(value)`` / ``list(value)``)
give a plain, mutable copy.
"""

import copy
from typing import Any, NoReturn

_READ_ONLY = "config values are shared and read-only: change a copy (copy.deepcopy(value))"


def _refuse(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(_READ_ONLY)


class FrozenDict(dict):
    """A JSON object that refuses changes."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __copy__(self) -> dict:
        return dict(self)

    def __deepcopy__(self, memo: dict) -> dict:
        return {key: copy.deepcopy(value, memo) for key, value in self.items()}

    def __reduce__(self) -> tuple:
        # The default pickling rebuilds the dict item by item through __setitem__.
        return (FrozenDict, (dict(self),))


class FrozenList(list):
    """A JSON array that refuses changes."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = reverse = sort = clear = _refuse

    def __copy__(self) -> list:
        return list(self)

    def __deepcopy__(self, memo: dict) -> list:
        return [copy.deepcopy(value, memo) for value in self]

    def __reduce__(self) -> tuple:
        return (FrozenList, (list(self),))


def freeze(value: Any) -> Any:
    """``value`` with every object and array in it made read-only (scalars are immutable already)."""
    kind = type(value)
    if kind is dict:
        return FrozenDict(zip(value.keys(), map(freeze, value.values()), strict=True))
    if kind is list:
        return FrozenList(map(freeze, value))
    return value
