"""A canned HTTP responder for the namespace's snapshot and kafka-credentials
endpoints, enough to exercise the client without the real config service
(whose integration tests live in the repository's top-level ``tests/``).

Named uniquely, not ``conftest``, so importing it cannot pick up another
test suite's conftest when several suites run in one pytest session.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from noreboot.digest import config_digest

NAMESPACE = "acme/prod/checkout"
SNAPSHOT_PATH = "/api/v1/namespaces/acme/prod/checkout/configs/"
CREDENTIALS_PATH = "/api/v1/namespaces/acme/prod/checkout/kafka-credentials/"


def snapshot_body(revision=12, configs=None, topic="config_updates", partitions=6, epoch="epoch-1"):
    """A snapshot as the service renders it, its digest computed the service's way."""
    if configs is None:
        configs = [{"name": "timeout", "value": 2.5, "version": 3, "updated_at": "2026-11-28T19:00:00.123456Z"}]
    return {
        "namespace": NAMESPACE,
        "revision": revision,
        "epoch": epoch,
        "topic": topic,
        "partitions": partitions,
        "digest": config_digest({config["name"]: config["value"] for config in configs}),
        "configs": configs,
    }


def credentials_body(broker, topic="config_updates", partitions=6):
    """kafka-credentials' answer, for a principal that may log in to the test broker (``broker``: its
    librdkafka settings)."""
    ca_file = broker.get("ssl.ca.location")
    return {
        "bootstrap_servers": broker["bootstrap.servers"],
        "security_protocol": broker.get("security.protocol", "PLAINTEXT"),
        "sasl_mechanism": broker.get("sasl.mechanism", "SCRAM-SHA-512"),
        "username": broker.get("sasl.username", "nrb-token-1"),
        "password": broker.get("sasl.password", "pw-1"),
        "topic": topic,
        "partitions": partitions,
        "ca_pem": Path(ca_file).read_text() if ca_file else "",
    }


class SnapshotServer:
    """Answers like the contract says, or with a forced status."""

    def __init__(self):
        self.body = snapshot_body()
        self.status = 200
        self.raw_body = None
        self.credentials = None  # kafka-credentials' body; None answers 404, as a service without the endpoint
        self.credentials_status = 200
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
                if self.path != SNAPSHOT_PATH:
                    return self._send(404, {"error": {"message": "not found"}})
                if server.status != 200:
                    return self._send(server.status, {"detail": f"forced {server.status}"})
                etag = f'"{server.body["revision"]}"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self._send(200, server.body, etag=etag)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                server.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers), "body": body})
                if self.path != CREDENTIALS_PATH or server.credentials is None:
                    return self._send(404, {"error": {"code": "not_found", "message": "not found"}})
                if server.credentials_status != 200:
                    error = {"code": "permission_denied", "message": f"forced {server.credentials_status}"}
                    return self._send(server.credentials_status, {"error": error})
                self._send(200, server.credentials)

            def _send(self, status, payload, etag=None):
                data = server.raw_body if server.raw_body is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if etag:
                    self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def requests_to(self, method, path):
        return [request for request in self.requests if request["method"] == method and request["path"] == path]

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()
