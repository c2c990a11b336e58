"""The WSGI application: `application` is Django's; `served` is what the API's
server (deploy/serve.py) runs.

Granian builds each request's environ on a copy of the process environment,
as CGI did: every request's META would hold the API's settings and keys, and
a variable named HTTP_* would read as a header the client never sent (the
request's own values do win when both are there). `served` removes the
process environment's entries that the request did not replace."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config_service.settings")
application = get_wsgi_application()

_process_environ: dict[str, str] | None = None


def served(environ, start_response):
    global _process_environ
    if _process_environ is None:
        # Taken at the first request, after the server took its own copy.
        _process_environ = dict(os.environ)
    for key in _process_environ.keys() & environ.keys():
        if environ[key] == _process_environ[key]:
            del environ[key]
    return application(environ, start_response)
