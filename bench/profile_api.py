"""Where the API's CPU goes per request: the Django WSGI application called in
this process under cProfile (no HTTP server, no network between client and
API; the database is the real one), for the two requests the issue 17 targets
are about: a conditional GET answered 304 (service token) and a PUT (JWT).

    .venv/bin/python bench/profile_api.py [--requests N] [--top K]

Uses the bench fixtures of the main database (bench/setup_data.py creates
them). Prints, per request kind, the CPU and wall time per request without the
profiler, and the functions with the most own CPU time under it; file names are shown from
the package (site-packages) or the repository root. bench/profiles.txt keeps
one such summary from before and after issue 17's changes."""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def environ(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> dict:
    env = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8001", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json",
    }
    env.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})
    return env


def short(filename: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return Path(filename).name if filename.startswith("/") else filename


def top_functions(profile: cProfile.Profile, requests: int, top: int) -> list[str]:
    stats = pstats.Stats(profile).stats
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    lines = [f"{'own CPU us/req':>14} {'cum CPU us/req':>14} {'calls/req':>9}  function"]
    for (filename, line, function), (_primitive, calls, own, cumulative, _callers) in rows:
        lines.append(f"{1e6 * own / requests:>14.1f} {1e6 * cumulative / requests:>14.1f} "
                     f"{calls / requests:>9.1f}  {short(filename)}:{line}({function})")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "platform"), str(ROOT / "bench")]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config_service.settings")
    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application
    from setup_data import ensure_fixtures

    fixtures = ensure_fixtures()
    application = get_wsgi_application()
    # The request log stays on (it is part of each request's cost) but is not
    # printed; after get_wsgi_application(), which sets logging up again.
    for handler in logging.getLogger().handlers:
        handler.setStream(open(os.devnull, "w"))
    answers: dict[str, int] = {}

    def call(env: dict) -> None:
        def start_response(status, headers, exc_info=None):
            answers[status[:3]] = answers.get(status[:3], 0) + 1

        for _chunk in application(env, start_response):
            pass

    snapshot = f"/api/v1/namespaces/{fixtures['paths']['k1']}/configs/"
    reader = {"Authorization": f"Bearer {fixtures['tokens']['k1']}"}
    call(environ("GET", snapshot, reader))
    revision = fixtures["namespaces"]["k1"].__class__.objects.get(pk=fixtures["namespaces"]["k1"].pk).revision
    kinds = {
        "304 (conditional GET of the 1,000-config snapshot, service token)":
            lambda i: environ("GET", snapshot, {**reader, "If-None-Match": f'"{revision}"'}),
        "PUT (one config, JWT)": lambda i: environ(
            "PUT", f"/api/v1/namespaces/{fixtures['paths']['write']}/configs/profiled/",
            {"Authorization": f"Bearer {fixtures['jwt']}"}, json.dumps({"value": time.time_ns() + i}).encode()),
    }
    for title, build in kinds.items():
        answers.clear()
        for i in range(50):  # warm-up: connections, caches, imports
            call(build(i))
        answers.clear()
        started, cpu_started = time.perf_counter(), time.process_time()
        for i in range(args.requests):
            call(build(i))
        wall_us = 1e6 * (time.perf_counter() - started) / args.requests
        cpu_us = 1e6 * (time.process_time() - cpu_started) / args.requests
        # CPU time, not wall time: waits on the database cost the API nothing.
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for i in range(args.requests):
            call(build(i))
        profile.disable()
        print(f"\n## {title}: {args.requests} requests (answers, both loops: {dict(sorted(answers.items()))})")
        print(f"per request, without the profiler: {cpu_us:.0f} us CPU of this process, {wall_us:.0f} us wall "
              "(database included)\n")
        print("\n".join(top_functions(profile, args.requests, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
