"""A canned HTTP responder for the snapshot endpoint, enough to exercise the
client's status handling without the real config service (whose integration
tests live in the repository's top-level ``tests/``).

Named uniquely, not ``conftest``, so importing it cannot pick up another
test suite's conftest when several suites run in one pytest session.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAMESPACE = "acme/prod/checkout"
SNAPSHOT_PATH = "/api/v1/namespaces/acme/prod/checkout/configs/"


def snapshot_body(revision=12, configs=None, topic="config_updates", partitions=6):
    if configs is None:
        configs = [{"name": "timeout", "value": 2.5, "version": 3, "updated_at": "2026-11-28T19:00:00.123456Z"}]
    return {"namespace": NAMESPACE, "revision": revision, "topic": topic, "partitions": partitions, "configs": configs}


class SnapshotServer:
    """Answers the snapshot path like the contract says, or with a forced status."""

    def __init__(self):
        self.body = snapshot_body()
        self.status = 200
        self.raw_body = None
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append({"path": self.path, "headers": dict(self.headers)})
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

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()
