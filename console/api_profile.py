"""GET/PATCH /api/v1/profile/: the signed-in admin's own settings, as on the Profile page."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from console.forms import ProfileForm


class SignedIn(BasePermission):
    """Any signed-in admin, read-only ones too: the profile is their own."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_active)


class ProfileSerializer(serializers.Serializer):
    username = serializers.CharField(read_only=True)
    role = serializers.CharField(read_only=True, source="effective_role")
    time_zone = serializers.CharField(help_text="IANA zone the console shows times in")


class ProfileView(GenericAPIView):
    permission_classes = [SignedIn]
    serializer_class = ProfileSerializer

    def get(self, request: Request) -> Response:
        return Response(ProfileSerializer(request.user).data)

    @extend_schema(request=ProfileSerializer, responses=ProfileSerializer)
    def patch(self, request: Request) -> Response:
        body = ProfileSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        if "time_zone" in body.validated_data:
            # The Profile page's form owns the rule (a zone from the IANA database).
            form = ProfileForm(body.validated_data, instance=request.user)
            if not form.is_valid():
                errors = form.errors.get_json_data()
                raise ValidationError(
                    {
                        field: [error["message"] for error in found]
                        for field, found in errors.items()
                    }
                )
            form.save()
        return Response(ProfileSerializer(request.user).data)
