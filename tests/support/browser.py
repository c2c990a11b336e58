"""Debian's Chromium, headless, driven by Selenium through Debian's chromedriver.
Both paths are given, so Selenium Manager is never asked and nothing is downloaded."""

from __future__ import annotations

import base64
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = ROOT / "tests" / "screenshots"
LAUNCH_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,900",
)
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}

# fetch() from inside the page: the session cookie and the page's CSRF token go
# along, exactly as a script injected into the page could send them.
_FETCH = """
const [method, url, form, headers, withCsrfToken, done] = arguments;
const options = {method, headers: headers || {}, credentials: "same-origin", cache: "no-store"};
if (form) {
  const token = document.querySelector("input[name=csrfmiddlewaretoken]");
  options.body = new URLSearchParams(Object.assign(withCsrfToken && token ? {csrfmiddlewaretoken: token.value} : {}, form));
}
fetch(url, options).then(async (response) => done([response.status, await response.text()]))
                   .catch((error) => done([0, String(error)]));
"""


class Browser:
    def __init__(self) -> None:
        self._profile = tempfile.mkdtemp(prefix="chromium-profile-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*LAUNCH_FLAGS, f"--user-data-dir={self._profile}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_script_timeout(20)
        self.base_url = ""

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self._profile, ignore_errors=True)

    def reset(self, base_url: str) -> None:
        """A fresh start for the next test: no session, no page."""
        self.base_url = base_url
        self.driver.get("about:blank")
        self.driver.delete_all_cookies()

    # Pages

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def sign_in(self, username: str, password: str) -> None:
        self.open("/ui/login/")
        self.type("#id_username", username)
        self.type("#id_password", password)
        self.click("button[type=submit].primary")
        self.wait_for("nav[aria-label=Main]")

    @property
    def path(self) -> str:
        return self.driver.current_url.removeprefix(self.base_url)

    # Elements

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return self.find(css).text

    def click(self, css: str) -> None:
        element = self.find(css)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def type(self, css: str, text: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(text)

    def keys(self, *keys: str) -> None:
        """Typed into whatever has the focus, as a person at the keyboard would."""
        ActionChains(self.driver).send_keys(*keys).perform()

    def select(self, css: str, value: str) -> None:
        Select(self.find(css)).select_by_value(value)

    def wait_for(self, css: str, timeout: float = 10) -> WebElement:
        """The first element that matches and is shown (a hidden one may be the page being left)."""

        def shown():
            found = self.find_all(css)
            return found[0] if found and found[0].is_displayed() else None

        return self.wait_until(shown, timeout=timeout, message=f"no visible {css} on {self.path}")

    def wait_until(self, condition, timeout: float = 10, message: str = ""):
        """Polls the condition; elements replaced meanwhile (a navigation, the live table) are simply read again."""

        def poll(_driver):
            try:
                return condition()
            except WebDriverException as error:
                # chromedriver's own race: a read sent while a navigation tears the page's
                # script context down fails as an "unhandled inspector error" (a context or
                # node id it can no longer find), not as a stale element. The next poll
                # reads the new page.
                if "unhandled inspector error" not in (error.msg or ""):
                    raise
                return False

        try:
            return WebDriverWait(
                self.driver, timeout, poll_frequency=0.1,
                ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
            ).until(poll)
        except TimeoutException:
            raise AssertionError(f"timed out after {timeout}s: {message}\n{self._page_excerpt()}") from None

    def _page_excerpt(self) -> str:
        main = self.find_all("main")
        return main[0].text[:2000] if main else self.driver.page_source[:2000]

    # Requests from the page

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None,
                csrf_token: bool = True) -> tuple[int, str]:
        """(status, body) of a request sent by the page's own script, with its session cookie."""
        return tuple(self.driver.execute_async_script(_FETCH, method, self.base_url + path, form, headers, csrf_token))

    # Screenshots (git-ignored), whole pages

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        })
        path = SCREENSHOTS / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    @contextmanager
    def phone(self):
        """Pages opened inside show as on a phone: narrow viewport, mobile layout."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
        try:
            yield self
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
