"""The dashboard's editor with JSON Schemas and secrets, in a real browser."""

import pytest

from apps.audit.models import AuditEvent
from apps.configs.definitions import config_schema_set
from apps.configs.models import Configuration
from apps.configs.services import config_set
from tests.test_dashboard import PASSWORD, browser, page, person, preview_change, web, written  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

LIMITS_SCHEMA = {"type": "object", "properties": {"rps": {"type": "integer", "maximum": 100}}}


def test_editor__value_fails_the_schema__violation_beside_the_field_with_the_schema_and_nothing_written(
    web, person, make_namespace, change_context  # noqa: F811
):
    namespace = make_namespace()
    config_set(namespace=namespace, name="limits", value={"rps": 10}, context=change_context)
    config_schema_set(namespace=namespace, name="limits", schema=LIMITS_SCHEMA, context=change_context)
    editor = person("editor", namespace)
    web.sign_in(editor.username, PASSWORD)
    before = written(namespace)

    error = preview_change(web, namespace, "limits", value='{"rps": 500}', shows="#value-error")
    assert error.text.strip() == "/rps: 500 is greater than the maximum of 100"
    assert web.find("textarea#value").get_attribute("aria-invalid") == "true"
    assert web.find_all("#diff-preview") == [] and web.find_all("#save") == []
    assert "Schema (version 1)" in web.text("#config-schema summary")
    web.screenshot("schema-violation")
    # A save posted without the preview meets the write funnel's check.
    status, text = web.request("POST", page(namespace, "configs/limits/edit"),
                               {"kind": "json", "value": '{"rps": 500}', "expected_version": "1", "action": "save",
                                "previewed": '{"rps":500}'})
    assert status == 400 and "greater than the maximum" in text
    assert written(namespace) == before


def test_secret__added_in_the_browser__masked_in_preview_and_table_editor_empty_admin_reveal_audited(
    web, person, make_namespace  # noqa: F811
):
    namespace = make_namespace()
    admin = person("admin", namespace)
    web.sign_in(admin.username, PASSWORD)
    web.open(page(namespace, "configs/new"))
    web.type("#id_name", "db-password")
    web.type("textarea#value", "s3cret-in-browser")
    web.click("#id_secret")
    web.click("#preview")
    web.wait_for("#diff-preview")
    assert web.text(".change-line").startswith('(none) → {"secret": true, "fingerprint": ')
    web.click("#save")
    web.wait_for(".messages")
    assert Configuration.objects.get(namespace=namespace, name="db-password").is_secret
    row = 'tr[data-config="db-password"]'
    assert web.text(f"{row} .value-secret").startswith("secret · ")
    web.open(page(namespace, "configs/db-password/edit"))
    assert web.find("#change-form [name=value]").get_attribute("value") == ""
    assert "s3cret-in-browser" not in web.driver.page_source

    web.open(page(namespace))
    web.click(f"{row} form.inline button")
    assert web.wait_for("#revealed").text == '"s3cret-in-browser"'
    assert AuditEvent.objects.filter(namespace=namespace, action="config.reveal", actor=admin).count() == 1
