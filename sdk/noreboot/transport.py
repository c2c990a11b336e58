"""The package's one HTTP client: the SDK's fetches and every ``hq`` command use it.

``urllib`` rather than ``requests`` keeps the SDK's only dependency the Kafka
client. A request either returns the server's answer, whatever its status,
or raises ``ApiUnavailable`` (nothing usable came back: refused, reset,
timed out); what a status means is for the caller to decide.
"""

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from noreboot.errors import ApiUnavailable


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """What a 4xx/5xx body says: the platform's ``{"error": {code, message, fields}}``, or DRF's ``{"detail"}``."""

    code: str | None
    message: str | None
    fields: dict | None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes
    reason: str

    def json(self) -> Any:
        """The decoded body, ``None`` if it is empty; raises ``ValueError`` if it is not JSON."""
        return json.loads(self.body) if self.body else None

    def error_detail(self) -> ErrorDetail:
        try:
            payload = self.json()
        except ValueError:
            payload = None
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict):
            fields = error.get("fields")
            return ErrorDetail(
                code=_text(error.get("code")),
                message=_text(error.get("message")) or _text(error.get("detail")),
                fields=fields if isinstance(fields, dict) else None,
            )
        detail = _text(payload.get("detail")) if isinstance(payload, dict) else None
        return ErrorDetail(code=None, message=detail, fields=None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    default_port = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default_port


class _SameOriginCredentialsRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects, but carries the token only to the origin it was meant
    for: a redirect to another scheme, host or port gets no Authorization header."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            new.remove_header("Authorization")
        return new


_OPENER = urllib.request.build_opener(_SameOriginCredentialsRedirectHandler)


class HttpClient:
    """JSON requests to one API with a bearer token.

    ``token`` is read at each request, so assigning a renewed one takes
    effect at the next request, also from another thread.
    """

    def __init__(self, base_url: str, token: str | None, *, timeout: float, user_agent: str) -> None:
        self.base_url = base_url.strip().rstrip("/")
        self.token = token
        self.timeout = timeout
        self._user_agent = user_agent

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        timeout: float | None = None,
    ) -> HttpResponse:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        sent = {"Accept": "application/json", "User-Agent": self._user_agent, **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        if auth and self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, headers=sent, method=method)
        try:
            try:
                with _OPENER.open(request, timeout=timeout or self.timeout) as response:
                    return HttpResponse(response.status, response.read(), str(response.reason))
            except urllib.error.HTTPError as exc:
                # urllib raises for every status that is not 2xx, 304 included:
                # still the server's answer.
                with exc:
                    return HttpResponse(exc.code, exc.read(), str(exc.reason))
        except urllib.error.URLError as exc:
            raise ApiUnavailable(f"cannot reach {self.base_url}: {exc.reason}") from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # Timeouts and resets while reading a body, a malformed URL.
            raise ApiUnavailable(f"request to {self.base_url} failed: {str(exc) or repr(exc)}") from exc
