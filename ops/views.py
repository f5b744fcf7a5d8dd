"""/healthz, /readyz and /metrics: answered without a console login, for load balancers and
Prometheus (docs/operations.md)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client.exposition import choose_encoder

from ops.access import refusal
from ops.metrics import registry
from ops.readiness import readiness


@login_not_required
@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answers; nothing else is looked at."""
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the broker and the beat all answer; 503 naming what does not."""
    ready, checks = readiness()
    return JsonResponse(
        {"status": "ok" if ready else "fail", "checks": checks}, status=200 if ready else 503
    )


@login_not_required
@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """The console's gauges for Prometheus, to a client with the token or network allowed."""
    refused = refusal(request)
    if refused is not None:
        response = JsonResponse({"detail": refused.detail}, status=refused.status)
        if refused.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    # Prometheus asks for OpenMetrics; anything else gets the classic text format.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(registry), content_type=content_type)
