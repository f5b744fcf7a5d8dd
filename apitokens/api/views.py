"""API views of API tokens: every admin manages their own; a Super Admin everyone's."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import ValidationError

from apitokens import services
from apitokens.api.serializers import (
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    NewApiTokenSerializer,
)
from apitokens.services import TokenError, issue_token, tokens_visible_to
from console.api import ID_PATTERN


class SignedInAdmin(BasePermission):
    """Any signed-in admin, read-only ones included: a token acts with its owner's role."""

    message = "Sign in first."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active)


@extend_schema_view(
    list=extend_schema(
        description="Your tokens (a Super Admin's list holds everyone's), newest first; "
        "revoked and expired ones too, with `usable` false."
    ),
    create=extend_schema(
        request=ApiTokenCreateSerializer,
        responses={201: NewApiTokenSerializer},
        description="Create a named API token for yourself. `key` is shown only in this answer.",
    ),
)
class ApiTokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    lookup_value_regex = ID_PATTERN
    serializer_class = ApiTokenSerializer
    permission_classes = [SignedInAdmin]

    def get_queryset(self):
        return tokens_visible_to(self.request.user).order_by("-created", "-id")

    def create(self, request: Request, *args, **kwargs) -> Response:
        body = ApiTokenCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            token, key = issue_token(
                request.user,
                name=body.validated_data["name"],
                expires_at=body.validated_data.get("expires_at"),
            )
        except TokenError as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
        token.key = key
        answer = Response(NewApiTokenSerializer(token).data, status=status.HTTP_201_CREATED)
        answer["Cache-Control"] = "no-store"
        return answer

    @extend_schema(request=None, responses=ApiTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        """Revoke the token: it stops working at once. The token stays listed, with
        `revoked_at`, so this is a POST and not a DELETE."""
        token = self.get_object()
        services.revoke(token)
        return Response(ApiTokenSerializer(token).data)
