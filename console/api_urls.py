"""REST API routes: token, schema and each app's endpoints."""

from __future__ import annotations

from django.conf import settings
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apitokens.choices import TokenKind
from apitokens.services import issue_token
from console.api import ClientThrottle, JSONParser
from console.api_errors import locked_out
from console.api_profile import ProfileView
from console.permissions import RolePermission

# DRF marks its views login_not_required, so the console's login redirect never answers an API
# call: API clients get 401/403 from DRF itself.


class TokenThrottle(ClientThrottle):
    # Bounds password guessing through the token endpoint per client address.
    scope = "api_token"
    rate = "20/min"


class TokenView(GenericAPIView):
    """Token for a username and password; a locked account or address is told so (429)
    instead of hearing "wrong password" for the right one. The token is a login session:
    it expires after API_LOGIN_TOKEN_TTL; scripts that run unattended use a named API token."""

    throttle_classes = [TokenThrottle]
    parser_classes = [JSONParser, FormParser, MultiPartParser]
    permission_classes: list = []
    authentication_classes: list = []
    serializer_class = AuthTokenSerializer

    def post(self, request: Request, *args, **kwargs) -> Response:
        username = request.data.get("username") if hasattr(request.data, "get") else None
        refused = locked_out(request, username)
        if refused is not None:
            raise refused
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, key = issue_token(
            serializer.validated_data["user"],
            name="Password login",
            kind=TokenKind.SESSION,
            ttl=settings.API_LOGIN_TOKEN_TTL,
        )
        return Response({"token": key, "expires_at": token.expires_at})


urlpatterns = [
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[RolePermission]),
        name="schema",
    ),
    # The split view serves its start-up script as a file of its own: the CSP allows no inline
    # script.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", permission_classes=[RolePermission]),
        name="swagger-ui",
    ),
    path(
        "auth/token/",
        TokenView.as_view(),
        name="token_obtain",
    ),
    path("profile/", ProfileView.as_view(), name="profile_api"),
    path("", include("apitokens.api.urls")),
    path("", include("vidm.oauth_api")),
    path("", include("connectors.api.urls")),
    path("", include("directories.api.urls")),
    path("", include("synclog.api.urls")),
]
