"""Redirects: the token goes only to the origin it was meant for, from the SDK and from `hq`."""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from noreboot.transport import HttpClient

TOKEN = "nrb_redirect-test-token"


class RecordingServer:
    """Answers every GET with `answer(path)` -> (status, headers, body); records the Authorization headers seen."""

    def __init__(self, answer):
        self.seen_authorization: list[str | None] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                recorder.seen_authorization.append(self.headers.get("Authorization"))
                status, headers, body = answer(self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


NAMESPACES = json.dumps({"count": 0, "next": None, "previous": None, "results": []}).encode()


@pytest.fixture
def other_origin():
    """Another origin (another port on loopback), which the token must never reach."""
    server = RecordingServer(lambda path: (200, {"Content-Type": "application/json"}, NAMESPACES))
    yield server
    server.close()


@pytest.fixture
def redirecting_api(other_origin):
    """The API's origin: /same/... redirects within it, anything else to the other origin."""

    def answer(path):
        if path.startswith("/moved-here/"):
            return 200, {"Content-Type": "application/json"}, NAMESPACES
        if path.startswith("/same/"):
            return 302, {"Location": "/moved-here/"}, b""
        return 302, {"Location": other_origin.url + path}, b""

    server = RecordingServer(answer)
    yield server
    server.close()


def test_http_client__redirect_to_another_origin__no_authorization_there(redirecting_api, other_origin):
    client = HttpClient(redirecting_api.url, TOKEN, timeout=5, user_agent="test")

    response = client.request("GET", "/api/v1/namespaces/")

    assert response.status == 200
    assert redirecting_api.seen_authorization == [f"Bearer {TOKEN}"]
    assert other_origin.seen_authorization == [None]


def test_http_client__redirect_within_the_origin__authorization_kept(redirecting_api, other_origin):
    client = HttpClient(redirecting_api.url, TOKEN, timeout=5, user_agent="test")

    assert client.request("GET", "/same/").status == 200

    assert redirecting_api.seen_authorization == [f"Bearer {TOKEN}", f"Bearer {TOKEN}"]
    assert other_origin.seen_authorization == []


def test_hq__redirect_to_another_origin__no_authorization_there(redirecting_api, other_origin, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("NOREBOOT_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path), NOREBOOT_URL=redirecting_api.url, NOREBOOT_TOKEN=TOKEN)

    done = subprocess.run([sys.executable, "-m", "noreboot.cli", "namespaces", "--json"], env=env,
                          capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert redirecting_api.seen_authorization == [f"Bearer {TOKEN}"]
    assert other_origin.seen_authorization == [None]
