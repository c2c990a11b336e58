"""The OpenFeature provider, used through the OpenFeature client API against
the live API, relay and Kafka."""

import threading
import uuid

import pytest
from noreboot.openfeature import NoRebootProvider
from openfeature import api
from openfeature.event import ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from apps.configs.services import config_set

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def feature_client(sdk_client, make_namespace, change_context):
    """(OpenFeature client, namespace): a provider over a started ConfigClient
    of a namespace holding one flag of each type."""
    namespace = make_namespace()
    for name, value in {
        "new_checkout": True, "greeting": "hello", "retries": 3, "ratio": 0.25, "whole_ratio": 1,
        "limits": {"rps": 10}, "regions": ["eu", "us"],
    }.items():
        config_set(namespace=namespace, name=name, value=value, context=change_context)
    domain = f"test-{uuid.uuid4()}"
    api.set_provider_and_wait(NoRebootProvider(sdk_client(namespace)), domain)
    yield api.get_client(domain), namespace
    api.clear_providers()


def test_openfeature__each_flag_type__live_value_with_reason_static(feature_client):
    client, namespace = feature_client

    checkout = client.get_boolean_details("new_checkout", False)
    assert (checkout.value, checkout.reason, checkout.error_code) == (True, Reason.STATIC, None)
    assert checkout.flag_metadata == {"namespace": namespace.path, "revision": 7}
    assert client.get_string_value("greeting", "") == "hello"
    assert client.get_integer_value("retries", 0) == 3
    assert client.get_float_value("ratio", 0.0) == 0.25
    # A whole number is a fine float flag.
    assert client.get_float_value("whole_ratio", 0.0) == 1.0
    assert client.get_object_value("limits", {}) == {"rps": 10}
    assert client.get_object_value("regions", []) == ["eu", "us"]


def test_openfeature__missing_flag__default_with_flag_not_found(feature_client):
    client, _ = feature_client

    details = client.get_boolean_details("no_such_flag", False)

    assert (details.value, details.reason, details.error_code) == (False, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)


@pytest.mark.parametrize(
    "flag, getter, default",
    [
        ("greeting", "get_boolean_details", False),
        # A JSON true is not the integer 1, though Python's bool is an int.
        ("new_checkout", "get_integer_details", 0),
        ("retries", "get_string_details", "none"),
        ("ratio", "get_integer_details", 0),
        ("greeting", "get_object_details", {}),
    ],
)
def test_openfeature__flag_of_another_type__default_with_type_mismatch(feature_client, flag, getter, default):
    client, _ = feature_client

    details = getattr(client, getter)(flag, default)

    assert (details.value, details.reason, details.error_code) == (default, Reason.ERROR, ErrorCode.TYPE_MISMATCH)


def test_openfeature__flag_changed_through_the_api__next_evaluation_sees_it_and_event_emitted(
    feature_client, make_user, grant, client_for
):
    client, namespace = feature_client
    changed = []
    seen = threading.Event()
    client.add_handler(
        ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, lambda details: (changed.append(details), seen.set())
    )
    assert client.get_boolean_value("new_checkout", True) is True
    admin = make_user()
    grant(admin, namespace, "editor")

    response = client_for(admin).put(
        f"/api/v1/namespaces/{namespace.path}/configs/new_checkout/", {"value": False}, format="json"
    )

    assert response.status_code == 201
    assert seen.wait(timeout=20)
    assert changed[0].flags_changed == ["new_checkout"]
    assert changed[0].metadata == {"revision": 8}
    details = client.get_boolean_details("new_checkout", True)
    assert (details.value, details.reason, details.flag_metadata["revision"]) == (False, Reason.STATIC, 8)
