"""An OpenFeature provider backed by a ``ConfigClient``: flags are the configs
of the client's namespace, read from its live snapshot.

    from openfeature import api
    from noreboot.openfeature import NoRebootProvider

    api.set_provider(NoRebootProvider(client))
    enabled = api.get_client().get_boolean_value("new_checkout", False)

Needs the optional extra: ``pip install noreboot[openfeature]``. Only this
module imports ``openfeature``; the rest of the SDK never does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider, Metadata

from noreboot.client import ConfigClient

_NOT_FOUND = object()


def _is_boolean(value: Any) -> bool:
    return type(value) is bool


def _is_integer(value: Any) -> bool:
    # type(), not isinstance(): a JSON true is not the number 1.
    return type(value) is int


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def _is_string(value: Any) -> bool:
    return type(value) is str


def _is_object(value: Any) -> bool:
    return isinstance(value, dict | list)


class NoRebootProvider(AbstractProvider):
    """Resolves flags from ``client``'s namespace; emits
    ``PROVIDER_CONFIGURATION_CHANGED`` (with the changed names) on every change.

    ``initialize`` starts the client if it is not started yet; ``shutdown``
    stops listening for its changes but leaves the client, which its owner
    closes, running.
    """

    def __init__(self, client: ConfigClient) -> None:
        super().__init__()
        self._client = client

    def get_metadata(self) -> Metadata:
        return Metadata(name="No-Reboot HQ")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        self._client.start()
        self._client.on_change(self._changed)

    def shutdown(self) -> None:
        self._client.remove_on_change(self._changed)

    def _changed(self, name: str, old: Any, new: Any) -> None:
        self.emit_provider_configuration_changed(
            ProviderEventDetails(flags_changed=[name], metadata={"revision": self._client.revision})
        )

    def _resolve(self, flag_key: str, default_value: Any, fits, kind: str, convert=None) -> FlagResolutionDetails:
        # One read of the live snapshot: the value and its revision may move
        # apart only by a change landing in between, which the next read sees.
        value = self._client.get(flag_key, _NOT_FOUND)
        metadata = {"namespace": self._client.namespace, "revision": self._client.revision}
        if value is _NOT_FOUND or value is None:
            return FlagResolutionDetails(
                value=default_value, reason=Reason.ERROR, error_code=ErrorCode.FLAG_NOT_FOUND,
                error_message=f"no config {flag_key!r} in {self._client.namespace}", flag_metadata=metadata,
            )
        if not fits(value):
            return FlagResolutionDetails(
                value=default_value, reason=Reason.ERROR, error_code=ErrorCode.TYPE_MISMATCH,
                error_message=f"config {flag_key!r} is {type(value).__name__}, not {kind}", flag_metadata=metadata,
            )
        return FlagResolutionDetails(
            value=convert(value) if convert else value, reason=Reason.STATIC, flag_metadata=metadata
        )

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, _is_boolean, "a boolean")

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, _is_string, "a string")

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._resolve(flag_key, default_value, _is_integer, "an integer")

    def resolve_float_details(
        self, flag_key: str, default_value: float, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[float]:
        return self._resolve(flag_key, default_value, _is_number, "a number", float)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[Any] | Mapping[str, Any],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[Any] | Mapping[str, Any]]:
        return self._resolve(flag_key, default_value, _is_object, "an object or array")
