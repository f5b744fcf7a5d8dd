"""API views of connectors and the activation endpoint agents call."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import ValidationError, as_serializer_error
from rest_framework.views import APIView

from connectors.api.serializers import (
    ConnectorActivationSerializer,
    ConnectorSecretSerializer,
    ConnectorSerializer,
    ConnectorWithCodeSerializer,
)
from connectors.models import Connector
from connectors.services import (
    ConnectorInUse,
    activate,
    add_connector,
    delete_connector,
    new_activation_code,
)
from console.api import ID_PATTERN, ClientThrottle
from console.api_errors import ApiError


def _with_code(connector: Connector, code: str) -> dict:
    row = connector.activation_codes.order_by("-created").first()
    connector.activation_code = code
    connector.activation_code_expires_at = row.expires_at if row else None
    return ConnectorWithCodeSerializer(connector).data


def _no_store(response: Response) -> Response:
    # Codes and secrets are shown once; no proxy or browser cache may keep a copy.
    response["Cache-Control"] = "no-store"
    return response


@extend_schema_view(
    create=extend_schema(
        request=ConnectorSerializer,
        responses={201: ConnectorWithCodeSerializer},
        description="Add a connector (Super Admin). The activation code is shown only here.",
    ),
    destroy=extend_schema(
        responses={204: None, 409: OpenApiResponse(description="A directory still uses it.")}
    ),
)
class ConnectorViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    lookup_value_regex = ID_PATTERN
    queryset = Connector.objects.all()
    serializer_class = ConnectorSerializer
    # Adding connectors and issuing codes grants an agent access: Super Admins only.
    requires_super_admin = True

    def get_queryset(self):
        return Connector.objects.with_uses()

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            connector, code = add_connector(serializer.validated_data["name"])
        except DjangoValidationError as exc:
            raise ValidationError(as_serializer_error(exc)) from exc
        connector = self.get_queryset().get(pk=connector.pk)
        return _no_store(Response(_with_code(connector, code), status=status.HTTP_201_CREATED))

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        connector = self.get_object()
        try:
            delete_connector(connector)
        except ConnectorInUse as exc:
            raise ApiError(
                str(exc),
                code="connector_in_use",
                status_code=status.HTTP_409_CONFLICT,
                directories=exc.directories,
            ) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={201: ConnectorWithCodeSerializer})
    @action(detail=True, methods=["post"], url_path="activation-code")
    def activation_code(self, request: Request, pk: str | None = None) -> Response:
        """Issue a new activation code; codes issued before stop working."""
        connector = self.get_object()
        code = new_activation_code(connector)
        return _no_store(Response(_with_code(connector, code), status=status.HTTP_201_CREATED))


class ConnectorActivationThrottle(ClientThrottle):
    # Bounds guessing of activation codes per client address.
    scope = "connector_activation"
    rate = "30/min"


class ConnectorActivationView(APIView):
    """An agent exchanges its single-use activation code for the connector's secret.

    No user is involved: the code is the credential, so there is no session, no CSRF token and
    no login; requests are throttled per address instead.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ConnectorActivationThrottle]

    @extend_schema(
        request=ConnectorActivationSerializer,
        responses={201: ConnectorSecretSerializer},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = ConnectorActivationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            connector, secret = activate(**serializer.validated_data)
        except DjangoValidationError as exc:
            raise ValidationError(as_serializer_error(exc)) from exc
        data = ConnectorSecretSerializer(
            {"id": connector.pk, "name": connector.name, "secret": secret}
        )
        return _no_store(Response(data.data, status=status.HTTP_201_CREATED))
