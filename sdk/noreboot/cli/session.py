"""``hq``'s connection to the API: the package's HTTP client, plus renewing a stored login."""

import argparse
import os
from typing import Any

from noreboot.cli.errors import ApiFailure, HqError
from noreboot.cli.files import load_credentials, save_credentials
from noreboot.transport import HttpClient, HttpResponse

DEFAULT_URL = "http://127.0.0.1:8000"
HTTP_TIMEOUT = 30.0
PAGE_SIZE = 100


class Session:
    """The API at ``url`` with a bearer token; renews a stored JWT once on a 401."""

    def __init__(self, url: str, token: str | None, stored: dict | None = None) -> None:
        self.http = HttpClient(url, token, timeout=HTTP_TIMEOUT, user_agent="hq (noreboot)")
        # Only a session from `hq login` can be renewed; NOREBOOT_TOKEN cannot.
        self._stored = stored

    @property
    def url(self) -> str:
        return self.http.base_url

    @property
    def token(self) -> str | None:
        return self.http.token

    @property
    def renewable(self) -> bool:
        return self._stored is not None and bool(self._stored.get("refresh"))

    def request(self, method: str, path: str, *, if_version: int | None = None, auth: bool = True, **options: Any) -> Any:
        """The decoded JSON body (``None`` if empty); raises ``ApiFailure`` / ``HqError`` / ``ApiUnavailable``.

        ``options`` are ``HttpClient.request``'s (``body``, ``query``).
        """
        if auth and not self.token:
            raise HqError(f"not logged in to {self.url}: run `hq login` or set NOREBOOT_TOKEN")
        headers = {"If-Match": f'"{if_version}"'} if if_version is not None else None

        def send() -> HttpResponse:
            return self.http.request(method, path, headers=headers, auth=auth, **options)

        response = send()
        if response.status == 401 and auth and self.renewable:
            self.renew()
            response = send()
        if response.status >= 400:
            raise ApiFailure.of(response)
        try:
            return response.json()
        except ValueError:
            raise HqError(f"{method} {self.url}{path} answered {response.status} with a body that is not JSON") from None

    def renew(self) -> None:
        """Rotate the stored refresh token for a new access token, and save both."""
        assert self._stored is not None
        response = self.http.request(
            "POST", "/api/v1/auth/token/refresh/", body={"refresh": self._stored["refresh"]}, auth=False
        )
        if response.status >= 400:
            failure = ApiFailure.of(response)
            if response.status in (400, 401):
                raise HqError(f"{failure} (the stored session has expired: run `hq login`)") from failure
            raise failure
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("access"), str):
            raise HqError(f"unexpected answer from {self.url} to a token refresh")
        self._stored = {
            **self._stored,
            "access": payload["access"],
            "refresh": payload.get("refresh", self._stored["refresh"]),
        }
        self.http.token = self._stored["access"]
        save_credentials(self._stored)

    def all_pages(self, path: str) -> dict:
        """Every page of a paginated list, merged into one body of the same shape."""
        results: list = []
        page = 1
        while True:
            body = self.request("GET", path, query={"page": page, "page_size": PAGE_SIZE})
            results.extend(body["results"])
            if not body.get("next"):
                return {"count": body.get("count", len(results)), "next": None, "previous": None, "results": results}
            page += 1


def open_session(args: argparse.Namespace) -> Session:
    """URL: --url, else the stored one, else NOREBOOT_URL, else the default.
    Token: NOREBOOT_TOKEN, else the stored session if it is for that URL."""
    stored = load_credentials()
    url = api_url(args, stored)
    env_token = os.environ.get("NOREBOOT_TOKEN") or None
    if env_token:
        return Session(url, env_token)
    # A token is never sent to another server than the one that issued it.
    if stored is not None and _normal_url(stored.get("url") or "") == url:
        return Session(url, stored["access"], stored)
    return Session(url, None)


def api_url(args: argparse.Namespace, stored: dict | None) -> str:
    url = args.url or (stored or {}).get("url") or os.environ.get("NOREBOOT_URL") or DEFAULT_URL
    return _normal_url(url)


def _normal_url(url: str) -> str:
    return url.strip().rstrip("/")
