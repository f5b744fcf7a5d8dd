"""REST API routes: token, schema and each app's endpoints."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.throttling import AnonRateThrottle

from console.permissions import RolePermission

# DRF marks its views login_not_required, so the console's login redirect never answers an API
# call: API clients get 401/403 from DRF itself.


class TokenThrottle(AnonRateThrottle):
    # Bounds password guessing through the token endpoint per client address.
    scope = "api_token"
    rate = "20/min"


urlpatterns = [
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[RolePermission]),
        name="schema",
    ),
    path(
        "auth/token/",
        ObtainAuthToken.as_view(throttle_classes=[TokenThrottle]),
        name="token_obtain",
    ),
    path("", include("connectors.api.urls")),
    path("", include("directories.api.urls")),
    path("", include("synclog.api.urls")),
]
