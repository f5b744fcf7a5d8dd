"""/api/v1/oauth-clients/: the OAuth Clients page as an API. Super Admins only, as the page;
every rule is vidm.services' (the page calls the same functions)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.serializers import ValidationError, as_serializer_error

from console.api import ID_PATTERN
from console.models import Role
from vidm import services
from vidm.models import OAuthClient


class SuperAdminOnly(BasePermission):
    """Reading the clients too: the console refuses their page to other roles."""

    message = "Only a Super Admin manages OAuth clients."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.can_manage_connectors)


class OAuthClientSerializer(serializers.ModelSerializer):
    role = serializers.CharField(source="user.role", read_only=True)
    service_account = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = OAuthClient
        fields = ["id", "client_id", "role", "service_account", "created"]
        read_only_fields = fields


class OAuthClientCreateSerializer(serializers.Serializer):
    client_id = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(choices=Role.choices)


class NewOAuthClientSerializer(OAuthClientSerializer):
    secret = serializers.CharField(read_only=True)

    class Meta(OAuthClientSerializer.Meta):
        fields = [*OAuthClientSerializer.Meta.fields, "secret"]
        read_only_fields = fields


@extend_schema_view(
    create=extend_schema(
        request=OAuthClientCreateSerializer,
        responses={201: NewOAuthClientSerializer},
        description="Add a client for `/SAAS/auth/oauthtoken` (client credentials), acting as "
        "a new service account with `role`. `secret` is shown only in this answer.",
    ),
    destroy=extend_schema(
        description="Delete the client: its tokens stop working at once and its service "
        "account is deactivated (the Sync Log keeps naming it)."
    ),
)
class OAuthClientViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    lookup_value_regex = ID_PATTERN
    serializer_class = OAuthClientSerializer
    permission_classes = [SuperAdminOnly]
    queryset = OAuthClient.objects.select_related("user")

    def create(self, request: Request, *args, **kwargs) -> Response:
        body = OAuthClientCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            client, secret = services.add_client(
                body.validated_data["client_id"], body.validated_data["role"]
            )
        except DjangoValidationError as exc:
            raise ValidationError(as_serializer_error(exc)) from exc
        client.secret = secret
        answer = Response(NewOAuthClientSerializer(client).data, status=status.HTTP_201_CREATED)
        answer["Cache-Control"] = "no-store"
        return answer

    def perform_destroy(self, instance: OAuthClient) -> None:
        services.delete_client(instance)


router = SimpleRouter()
router.register("oauth-clients", OAuthClientViewSet, basename="oauthclient")
app_name = "vidm-api"
urlpatterns = router.urls
