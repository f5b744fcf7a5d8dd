"""Console middleware: each signed-in admin sees times in their own zone."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

# The REST API answers in UTC whoever asks (DRF renders datetimes in the active zone).
API_PREFIX = "/api/"


class AdminTimeZoneMiddleware:
    """Activates the signed-in admin's time zone for console pages; everything else is UTC."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not request.path.startswith(API_PREFIX):
            try:
                zone = zoneinfo.ZoneInfo(user.time_zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                zone = None
        if zone is None:
            timezone.deactivate()
            return self.get_response(request)
        with timezone.override(zone):
            return self.get_response(request)


# The API's current version; `/api/<rest>` is its deprecated alias for one release.
API_V1_PREFIX = "/api/v1/"


class DeprecatedApiAliasMiddleware:
    """Answers `/api/<rest>` as `/api/v1/<rest>`, marked deprecated with a link to its successor.

    The alias is a rewrite, not a second set of routes: nothing can differ between the two,
    the schema lists only `/api/v1/`, and dropping the alias is removing this class.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if not path.startswith(API_PREFIX) or path.startswith(API_V1_PREFIX):
            return self.get_response(request)
        successor = API_V1_PREFIX + path[len(API_PREFIX) :]
        request.path_info = successor
        request.path = request.META.get("SCRIPT_NAME", "").rstrip("/") + successor
        response = self.get_response(request)
        response["Deprecation"] = "true"
        response["Link"] = f'<{request.path}>; rel="successor-version"'
        return response
