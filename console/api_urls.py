"""REST API routes: token, schema and each app's endpoints."""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from console.api import ClientThrottle, JSONParser
from console.permissions import RolePermission

# DRF marks its views login_not_required, so the console's login redirect never answers an API
# call: API clients get 401/403 from DRF itself.


class TokenThrottle(ClientThrottle):
    # Bounds password guessing through the token endpoint per client address.
    scope = "api_token"
    rate = "20/min"


class TokenView(ObtainAuthToken):
    """Token for a username and password; a locked account or address is told so (429)
    instead of hearing "wrong password" for the right one."""

    throttle_classes = [TokenThrottle]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def post(self, request: Request, *args, **kwargs) -> Response:
        username = request.data.get("username") if hasattr(request.data, "get") else None
        credentials = {"username": username if isinstance(username, str) else ""}
        if AxesProxyHandler.is_locked(request._request, credentials):
            minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
            return Response(
                {
                    "detail": "Too many wrong passwords for this account or from this address; "
                    f"try again in {minutes} minutes or ask a Super Admin to lift the lock."
                },
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(minutes * 60)},
            )
        return super().post(request, *args, **kwargs)


urlpatterns = [
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[RolePermission]),
        name="schema",
    ),
    path(
        "auth/token/",
        TokenView.as_view(),
        name="token_obtain",
    ),
    path("", include("connectors.api.urls")),
    path("", include("directories.api.urls")),
    path("", include("synclog.api.urls")),
]
