"""The web dashboard in a real browser (Debian's Chromium, headless) against the
live server, PostgreSQL, the relay and Kafka. Screenshots of the main pages
land in tests/screenshots/ (git-ignored) for a reviewer to look at."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from django.test import Client
from selenium.webdriver.common.keys import Keys

from apps.audit.models import AuditEvent
from apps.change_context import ChangeContext
from apps.configs.models import Configuration
from apps.configs.selectors import config_current
from apps.configs.services import config_set
from apps.tenants import services as tenant_services
from apps.tenants.models import Namespace
from apps.tenants.roles import Role, role_held
from tests.conftest import body, unique_slug
from tests.support.browser import Browser
from tests.support.processes import ApiServer

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-enough-password"


@pytest.fixture(scope="module")
def browser():
    started = Browser()
    yield started
    started.close()


@pytest.fixture
def web(browser, live_server) -> Browser:
    browser.reset(live_server.url)
    return browser


@pytest.fixture
def person(make_user, grant):
    """A user who can sign in, holding a role on a namespace or tenant."""

    def make(role: str, target, name: str | None = None):
        user = make_user(unique_slug(name or role), password=PASSWORD)
        grant(user, target, role)
        return user

    return make


def page(namespace: Namespace, tail: str = "") -> str:
    return f"/ui/namespaces/{namespace.path}/{tail}"


def written(namespace: Namespace) -> tuple:
    """Everything a write would change: the revision, the versions, the audit trail."""
    namespace.refresh_from_db()
    return (
        namespace.revision,
        Configuration.objects.filter(namespace=namespace).count(),
        AuditEvent.objects.filter(namespace=namespace).count(),
    )


def preview_change(web: Browser, namespace: Namespace, name: str, *, value: str, shows: str = "#diff-preview"):
    """Opens the namespace page, edits one config in its row, asks for the
    preview and waits for what the answer `shows` (the diff, or an error)."""
    web.open(page(namespace))
    row = f'tr[data-config="{name}"]'
    web.click(f"{row} details.edit > summary")
    web.type(f"{row} [name=value]", value)
    web.click(f"{row} button[value=preview]")
    return web.wait_for(shows)


def save(web: Browser) -> str:
    web.click("#save")
    return web.wait_for(".messages").text


def test_editing__a_boolean_and_a_number_through_the_diff_preview__saved_and_applied_by_a_running_sdk_client(
    web, person, make_namespace, sdk_client, change_context
):
    namespace = make_namespace(environment="dev")
    make_namespace(tenant=namespace.tenant, environment="dev", service="search")
    make_namespace(tenant=namespace.tenant, environment="staging")
    config_set(namespace=namespace, name="new_checkout", value=False, context=change_context)
    config_set(namespace=namespace, name="timeout", value=30, context=change_context)
    config_set(namespace=namespace, name="limits", value={"rps": 10, "burst": 5}, context=change_context)
    client = sdk_client(namespace)
    assert client.revision == 3 and client.get("new_checkout") is False
    editor = person("editor", namespace.tenant, name="erin")
    web.sign_in(editor.username, PASSWORD)

    assert web.path == "/ui/"
    web.wait_for(f'a[href="{page(namespace)}"]')
    assert "production" not in web.text("main")
    web.screenshot("01-namespace-list")
    web.click(f'a[href="{page(namespace)}"]')
    web.wait_for('tr[data-config="timeout"]')
    assert web.find('tr[data-config="new_checkout"] input[type=checkbox][role=switch]')
    assert web.find('tr[data-config="timeout"] input[type=number]')
    assert web.find('tr[data-config="limits"] textarea[data-json]')
    web.screenshot("02-namespace")

    # The boolean by keyboard alone: open the row's editor, tab to the switch, space, type, enter.
    web.find('tr[data-config="new_checkout"] details.edit > summary').send_keys(Keys.ENTER)
    web.keys(Keys.TAB)
    assert web.driver.switch_to.active_element.get_attribute("role") == "switch"
    web.keys(Keys.SPACE, Keys.TAB, "launch the new checkout", Keys.ENTER)
    web.wait_for("#diff-preview")
    assert web.text(".change-line") == "false → true"
    web.screenshot("03-edit-diff-preview")
    assert written(namespace)[0] == 3, "a preview writes nothing"
    assert "Saved new_checkout: version 2" in save(web)

    preview_change(web, namespace, "timeout", value="45")
    assert web.text(".change-line") == "30 → 45"
    assert "Saved timeout: version 2" in save(web)
    assert web.text('tr[data-config="timeout"] .version') == "2"

    assert client.wait_for_revision(5, timeout=30), client.revision
    assert client.get("new_checkout") is True and client.get("timeout") == 45
    assert config_current(namespace, "new_checkout").comment == "launch the new checkout"


def test_history__rolled_back_with_one_click__new_version_and_the_audit_log_names_the_user(
    web, person, make_namespace, change_context
):
    namespace = make_namespace(environment="staging")
    config_set(namespace=namespace, name="timeout", value=30, context=change_context)
    editor = person("editor", namespace, name="rolf")
    web.sign_in(editor.username, PASSWORD)
    preview_change(web, namespace, "timeout", value="45")
    save(web)

    web.open(page(namespace, "configs/timeout/history"))
    web.wait_for("#version-diff")
    assert web.text("#version-diff .change-line") == "30 → 45"
    web.select("#from_version", "2")
    web.select("#to_version", "1")
    web.click("form.inline-form button[type=submit]")
    web.wait_until(lambda: web.text("#version-diff .change-line") == "45 → 30")
    web.screenshot("04-history")
    assert not web.find_all('tr[data-version="2"] form.rollback'), "the current version offers no rollback"
    web.click('tr[data-version="1"] form.rollback button')
    assert "Rolled timeout back to version 1: now version 3" in web.wait_for(".messages").text
    current = config_current(namespace, "timeout")
    assert (current.value, current.version) == (30, 3)

    web.open(f"/ui/audit/?namespace={namespace.path}")
    web.type("#id_actor", editor.username)
    web.click(".filters button[type=submit]")
    web.wait_until(lambda: "actor=" in web.path)
    rows = [(row.get_attribute("data-action"), row.find_element("css selector", ".actor").text)
            for row in web.find_all("table.audit tbody tr[data-action]")]
    assert rows == [("config.rollback", editor.username), ("config.set", editor.username)]
    web.screenshot("05-audit")
    web.select("#id_action", "config.rollback")
    web.click(".filters button[type=submit]")
    web.wait_until(lambda: len(web.find_all("table.audit tbody tr[data-action]")) == 1)


def test_viewer__namespace_and_history_pages__no_edit_controls_and_forged_posts_refused_with_nothing_written(
    web, person, make_namespace, change_context
):
    namespace = make_namespace()
    config_set(namespace=namespace, name="flag", value=True, context=change_context)
    config_set(namespace=namespace, name="flag", value=False, context=change_context)
    viewer = person("viewer", namespace, name="vera")
    web.sign_in(viewer.username, PASSWORD)
    web.open(page(namespace))
    web.wait_for('tr[data-config="flag"]')
    assert web.find_all("main form") == [] and web.find_all("main details.edit") == []
    assert "Add a config" not in web.text("main") and "Delete" not in web.text("main")
    assert "Members" not in web.text("nav.tabs")
    web.open(page(namespace, "configs/flag/history"))
    web.wait_for('tr[data-version="1"]')
    assert web.find_all("main form[method=post]") == []

    before = written(namespace)
    forged = [
        ("configs/flag/edit", {"kind": "boolean", "value": "true", "expected_version": "2", "action": "save",
                               "previewed": "true"}),
        ("configs/new", {"name": "sneaky", "kind": "string", "value": "x", "expected_version": "0",
                         "action": "save", "previewed": '"x"'}),
        ("configs/flag/rollback", {"to_version": "1", "expected_version": "2"}),
        ("configs/flag/delete", {"expected_version": "2"}),
        ("members/", {"action": "grant", "username": viewer.username, "role": "admin"}),
        ("tokens/", {"action": "create", "name": "stolen"}),
    ]
    for tail, form in forged:
        status, body = web.request("POST", page(namespace, tail), form)
        # Refused by the role check (the CSRF token was good), not by the CSRF check.
        assert status == 403 and "This needs the" in body, (tail, status, body[:300])
    assert written(namespace) == before
    assert role_held(viewer, namespace) == Role.VIEWER


def test_namespace_of_another_tenant__every_page_and_post__answers_404_like_a_missing_one(
    web, person, make_namespace, change_context
):
    mine, theirs = make_namespace(), make_namespace()
    config_set(namespace=theirs, name="secret_flag", value=True, context=change_context)
    admin = person("admin", mine.tenant)
    web.sign_in(admin.username, PASSWORD)
    web.open(page(theirs))
    assert web.text("h1") == "Not found"
    before = written(theirs)
    missing = Namespace(path=f"{theirs.tenant.slug}/prod/nothing-here")
    for namespace in (theirs, missing):
        for tail in ("", "revision", "table", "configs/secret_flag/history", "configs/secret_flag/edit",
                     "members/", "tokens/"):
            status, body = web.request("GET", page(namespace, tail))
            assert status == 404, (namespace.path, tail, status)
            assert "secret_flag" not in body
        status, _ = web.request("POST", page(namespace, "configs/secret_flag/edit"),
                                {"kind": "boolean", "value": "", "expected_version": "1", "action": "save",
                                 "previewed": "false"})
        assert status == 404
    assert written(theirs) == before
    assert config_current(theirs, "secret_flag").value is True


def test_json_editor__invalid_json__error_next_to_the_field_in_the_browser_and_from_the_server_nothing_written(
    web, person, make_namespace, change_context
):
    namespace = make_namespace()
    config_set(namespace=namespace, name="limits", value={"rps": 10, "burst": 5}, context=change_context)
    editor = person("editor", namespace)
    web.sign_in(editor.username, PASSWORD)
    before = written(namespace)

    web.open(page(namespace))
    row = 'tr[data-config="limits"]'
    web.click(f"{row} details.edit > summary")
    web.type(f"{row} textarea[data-json]", '{"rps": 20,')
    web.click(f"{row} button[value=preview]")
    error = web.wait_for("#value-limits-error")
    assert error.is_displayed() and error.text.startswith("Not valid JSON")
    assert web.find(f"{row} textarea").get_attribute("aria-invalid") == "true"
    assert web.path == page(namespace), "the browser did not send it"

    # Without the page's script (or from any other client) the server refuses it too.
    web.driver.execute_script("arguments[0].submit()", web.find(f"{row} form"))
    error = web.wait_for("#value-error")
    assert error.text.startswith("Not valid JSON: Expecting property name enclosed in double quotes")
    assert web.find("textarea#value").get_attribute("aria-invalid") == "true"
    assert web.find_all("#diff-preview") == []
    web.screenshot("06-json-error")
    status, _ = web.request("POST", page(namespace, "configs/limits/edit"),
                            {"kind": "json", "value": "[1, 2", "expected_version": "1", "action": "save",
                             "previewed": "[1,2]"})
    assert status == 400
    assert written(namespace) == before


def test_editor_post__without_the_csrf_token__refused_with_nothing_written(web, person, make_namespace, change_context):
    namespace = make_namespace()
    config_set(namespace=namespace, name="timeout", value=30, context=change_context)
    editor = person("editor", namespace)
    web.sign_in(editor.username, PASSWORD)
    web.open(page(namespace))
    before = written(namespace)
    change = {"kind": "number", "value": "31", "expected_version": "1", "action": "save", "previewed": "31"}
    status, body = web.request("POST", page(namespace, "configs/timeout/edit"), change, csrf_token=False)
    assert status == 403 and "CSRF" in body
    assert written(namespace) == before
    status, body = web.request("POST", page(namespace, "configs/timeout/edit"), change)
    assert status == 200 and "Saved timeout: version 2" in body, "the same post with the page's token is taken"
    assert config_current(namespace, "timeout").value == 31


def test_production_change__unconfirmed_then_changed_meanwhile__refused_twice_then_saved_over_the_new_value(
    web, person, change_context
):
    tenant = tenant_services.tenant_create(slug=unique_slug("t"), context=change_context)
    namespace = tenant_services.namespace_create(tenant=tenant, environment="prod", service="checkout",
                                                 is_production=True, context=change_context)
    config_set(namespace=namespace, name="rate_limit", value=100, context=change_context)
    editor = person("editor", namespace)
    web.sign_in(editor.username, PASSWORD)
    with web.phone():
        preview_change(web, namespace, "rate_limit", value="150")
        assert web.driver.execute_script("return document.documentElement.scrollWidth") <= 390
        web.screenshot("11-phone-production-preview")
    assert web.text(".change-line") == "100 → 150"

    web.click("#save")
    error = web.wait_for("#id_confirm_production-error")
    assert error.is_displayed() and "production" in error.text
    assert config_current(namespace, "rate_limit").value == 100

    config_set(namespace=namespace, name="rate_limit", value=120, context=change_context)
    web.click("#id_confirm_production")
    web.click("#save")
    web.wait_until(lambda: "changed by someone else" in web.text(".error-box"))
    assert web.text(".change-line") == "120 → 150"
    assert config_current(namespace, "rate_limit").value == 120, "the other change was not overwritten"
    web.screenshot("07-production-conflict")

    web.click("#id_confirm_production")
    assert "Saved rate_limit: version 3" in save(web)
    assert config_current(namespace, "rate_limit").value == 150


def test_admin_pages__role_granted_and_revoked_token_created_and_revoked__secret_shown_once(
    web, person, make_user, make_namespace
):
    namespace = make_namespace()
    admin = person("admin", namespace, name="ada")
    colleague = make_user(unique_slug("bob"))
    web.sign_in(admin.username, PASSWORD)

    web.open(page(namespace, "members/"))
    web.type("#id_username", "nobody-at-all")
    web.click("form.inline-form button[type=submit]")
    assert "No active user named 'nobody-at-all'" in web.wait_for("#id_username-error").text
    web.type("#id_username", colleague.username)
    web.select("#id_role", "editor")
    web.click("form.inline-form button[type=submit]")
    web.wait_for(f'tr[data-member="{colleague.username}"]')
    assert role_held(colleague, namespace) == Role.EDITOR
    web.screenshot("08-members")
    web.click(f'tr[data-member="{colleague.username}"] button')
    web.wait_until(lambda: not web.find_all(f'tr[data-member="{colleague.username}"]'))
    assert role_held(colleague, namespace) is None

    web.open(page(namespace, "tokens/"))
    web.type("#id_name", "checkout-service")
    web.click("form.inline-form button[type=submit]")
    secret = web.wait_for("#new-secret").get_attribute("value")
    assert secret.startswith("nrb_")
    web.screenshot("09-tokens-secret-shown-once")
    api = Client()
    snapshot_url = f"/api/v1/namespaces/{namespace.path}/configs/"
    assert api.get(snapshot_url, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200

    web.open(page(namespace, "tokens/"))
    web.wait_for("table.tokens")
    assert secret not in web.driver.page_source and secret[:12] in web.text("table.tokens")
    web.click("table.tokens tbody tr button.danger")
    web.wait_until(lambda: "revoked" in web.text("table.tokens"))
    assert api.get(snapshot_url, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_namespace_page__changed_elsewhere__revision_polled_with_304s_and_the_table_refreshed_in_place(
    web, person, make_namespace, change_context
):
    namespace = make_namespace(environment="dev")
    config_set(namespace=namespace, name="greeting", value="hello", context=change_context)
    config_set(namespace=namespace, name="limits", value={"rps": 10, "burst": 5}, context=change_context)
    viewer = person("viewer", namespace)
    web.sign_in(viewer.username, PASSWORD)
    web.open(page(namespace))
    web.wait_for('tr[data-config="greeting"]')
    web.driver.execute_script("window.sameDocument = true")

    status, _ = web.request("GET", page(namespace, "revision"), headers={"If-None-Match": '"2"'})
    assert status == 304
    status, body = web.request("GET", page(namespace, "revision"), headers={"If-None-Match": '"1"'})
    assert status == 200 and json.loads(body) == {"namespace": namespace.path, "revision": 2}

    config_set(namespace=namespace, name="greeting", value="bonjour", context=change_context)
    web.wait_until(lambda: '"bonjour"' in web.text('tr[data-config="greeting"]'), timeout=10,
                   message="the table did not follow the new revision")
    assert web.driver.execute_script("return window.sameDocument") is True
    assert web.text("#revision") == "3"

    with web.phone():
        web.open(page(namespace))
        web.wait_for('tr[data-config="greeting"]')
        assert web.driver.execute_script("return document.documentElement.scrollWidth") <= 390
        web.screenshot("10-phone-namespace")


def test_config__added_as_json_then_deleted__listed_then_gone_with_its_history_kept(web, person, make_namespace):
    namespace = make_namespace()
    editor = person("editor", namespace)
    web.sign_in(editor.username, PASSWORD)
    web.open(page(namespace))
    web.click("main a.button")
    web.type("#id_name", "limits")
    web.select("#id_kind", "json")
    web.type("textarea#value", '{"rps": 10}')
    web.click("#preview")
    web.wait_for("#diff-preview")
    assert web.text(".change-line") == '(none) → {"rps": 10}'
    web.screenshot("12-add-config-preview")
    assert "Saved limits: version 1" in save(web)
    assert web.find('tr[data-config="limits"] pre.value').text == '{\n  "rps": 10\n}'

    web.click('tr[data-config="limits"] a.danger-link')
    web.click("button.danger")
    assert "Deleted limits" in web.wait_for(".messages").text
    assert web.find_all('tr[data-config="limits"]') == []
    web.open(page(namespace, "configs/limits/history"))
    assert "deleted" in web.wait_for('tr[data-version="2"]').text
    assert Configuration.objects.filter(namespace=namespace, name="limits").count() == 2


def test_audit_page__the_api_s_filters__the_events_the_api_lists_and_the_same_refusals(
    person, make_namespace, client_for, change_context
):
    namespace = make_namespace()
    admin = person("admin", namespace)
    config_set(namespace=namespace, name="mine", value=1, context=ChangeContext(actor=admin))
    config_set(namespace=namespace, name="theirs", value=2, context=change_context)
    api, page = client_for(admin), Client()
    page.force_login(admin)

    def both(query: dict) -> tuple:
        # The page sends every input, blank ones too; the API is sent only those set.
        api_response = api.get("/api/v1/audit/", {key: value for key, value in query.items() if value})
        page_response = page.get("/ui/audit/", query)
        api_ids = [event["id"] for event in body(api_response).get("results", [])]
        page_ids = [event.pk for event in page_response.context["page"]]
        return (api_response.status_code, api_ids), (page_response.status_code, page_ids)

    listed = both({"namespace": namespace.path, "actor": admin.username, "action": "config.set",
                   "since": "2000-01-01T00:00", "until": "2999-01-01T00:00"})
    assert listed[0] == listed[1] and len(listed[0][1]) == 1
    assert both({"namespace": namespace.path, "actor": "", "since": "2999-01-01", "until": "2000-01-01"}) == (
        (200, []), (200, [])
    )
    assert both({"namespace": namespace.path, "since": "yesterday"}) == ((400, []), (400, []))


def test_dashboard_assets__under_the_api_server__the_page_s_stylesheet_and_script_served(settings):
    api = ApiServer(settings.DATABASES["default"]["NAME"], workers=1)
    api.start()
    try:
        with urllib.request.urlopen(f"{api.url}/ui/login/", timeout=10) as response:
            assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', response.read().decode())
        served = {}
        for asset in assets:
            with urllib.request.urlopen(api.url + asset, timeout=10) as response:
                served[asset] = (response.status, response.headers.get_content_type(), len(response.read()) > 0)
    finally:
        api.stop()
    assert served == {
        "/static/dashboard/dashboard.css": (200, "text/css", True),
        "/static/dashboard/dashboard.js": (200, "text/javascript", True),
    }


def test_change_request__proposed_by_editing_several_values_then_reviewed_and_applied_in_the_browser(
    web, person, make_namespace, change_context
):
    namespace = make_namespace(environment="prod")
    config_set(namespace=namespace, name="limit", value=1, context=change_context)
    config_set(namespace=namespace, name="rate", value=10, context=change_context)
    Namespace.objects.filter(pk=namespace.pk).update(required_approvals=1)
    author = person("editor", namespace.tenant, name="erin")
    reviewer = person("admin", namespace.tenant, name="ada")

    web.sign_in(author.username, PASSWORD)
    web.open(page(namespace, "edit-several"))
    web.type("#value-limit", "5")
    web.type("#value-rate", "20")
    web.click("#edit-several button.primary")
    assert "needs approval" in web.wait_for(".messages").text
    assert written(namespace)[0] == 2, "a proposal writes nothing"
    request_path = web.path
    assert web.find_all("button[value=approve]") == [], "the author is offered no approval"

    web.click(".signout button")
    web.wait_for("#id_username")
    web.sign_in(reviewer.username, PASSWORD)
    web.click('a[href="/ui/changes/"]')
    web.click(f'a[href="{request_path}"]')
    assert [web.text(f'[data-change="{namespace.path} {name}"] .change-line') for name in ("limit", "rate")] == [
        "1 → 5", "10 → 20"]
    web.type("#review-comment", "fine")
    web.click("button[value=approve]")
    assert web.wait_for("#state").text == "approved"
    web.screenshot("20-change-request-review")
    web.click("button[value=apply]")
    assert web.wait_for("#state").text == "applied"
    assert "applied" in web.text(".messages")
    namespace.refresh_from_db()
    assert namespace.revision == 3
    assert dict(Configuration.objects.filter(namespace=namespace, is_active=True).values_list("name", "value")) == {
        "limit": 5, "rate": 20}
