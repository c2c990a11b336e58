"""One log line and the HTTP metrics per request, with its request id, actor,
namespace and timing."""

import logging
import time

from apps.metrics import HTTP_LATENCY, HTTP_REQUESTS, method_label

logger = logging.getLogger("noreboot.request")


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        match = request.resolver_match
        # The route pattern, not the path: one series per endpoint, not per config name.
        route = match.route if match else "unmatched"
        method = method_label(request.method)
        HTTP_REQUESTS.labels(route=route, method=method, status=response.status_code).inc()
        HTTP_LATENCY.labels(route=route, method=method).observe(elapsed)
        kwargs = match.kwargs if match else {}
        namespace = "/".join(kwargs[k] for k in ("tenant", "environment", "service") if k in kwargs)
        user = getattr(request, "user", None)
        logger.info(
            "%s %s %s", request.method, request.path, response.status_code,
            extra={
                "request_id": getattr(request, "request_id", ""),
                "actor": getattr(user, "username", "") if getattr(user, "is_authenticated", False) else "",
                "namespace": namespace,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 2),
            },
        )
        return response
