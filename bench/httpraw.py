"""A minimal HTTP/1.1 keep-alive client for the load generators.

http.client parses every response's headers with the email package, which
costs more client CPU per request than a small server-side view; on a
2-core machine that shares the CPU with the server, the load generator must
stay cheap. This client sends prebuilt request bytes and parses just the
status line, the headers and a Content-Length or chunked body.
"""

from __future__ import annotations

import json
import socket
import time

# Servers and proxies close idle keep-alive connections, some after 2 s: one idle
# this long is replaced before use rather than found closed by a request.
IDLE_RECONNECT_SECONDS = 1.5


class HttpError(Exception):
    pass


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


class Connection:
    def __init__(self, host: str, port: int, *, timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._host_header = f"{host}:{port}"
        self._sock: socket.socket | None = None
        self._file = None
        self._last_used = 0.0

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._file = None

    def _connect(self) -> None:
        self.close()
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._file = sock.makefile("rb", buffering=65536)

    def build(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> bytes:
        """The bytes of one request; build once and send many times with send_raw()."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host_header}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body is not None or method in ("PUT", "POST", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> Response:
        return self.send_raw(self.build(method, path, headers, body), head=method == "HEAD")

    def send_raw(self, data: bytes, *, head: bool = False) -> Response:
        now = time.monotonic()
        reused = self._sock is not None
        if reused and now - self._last_used > IDLE_RECONNECT_SECONDS:
            self._connect()
            reused = False
        elif not reused:
            self._connect()
        try:
            response = self._exchange(data, head)
        except (OSError, HttpError):
            if not reused:
                raise
            # The server closed a kept-alive connection before reading the
            # request (nothing was processed): retry once on a fresh one.
            self._connect()
            response = self._exchange(data, head)
        self._last_used = time.monotonic()
        return response

    def _exchange(self, data: bytes, head: bool) -> Response:
        assert self._sock is not None and self._file is not None
        self._sock.sendall(data)
        f = self._file
        status_line = f.readline(65537)
        if not status_line:
            raise HttpError("connection closed before a response")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise HttpError(f"bad status line {status_line!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        while True:
            line = f.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if head or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "content-length" in headers:
            body = f.read(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(f.readline().split(b";")[0], 16)
                if size == 0:
                    while f.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(f.read(size))
                f.readline()
            body = b"".join(chunks)
        else:
            body = f.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body)
