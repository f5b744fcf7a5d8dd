"""API token serializers: the secret appears once, in the answer to its creation."""

from __future__ import annotations

from rest_framework import serializers

from apitokens.models import ApiToken


class ApiTokenSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    usable = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = (
            "id",
            "name",
            "kind",
            "user",
            "key_id",
            "created",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "usable",
        )
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    # Shapes only; apitokens.services.issue_token owns the rules (name, expiry in the future).
    name = serializers.CharField(allow_blank=True, trim_whitespace=False)
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When the token stops working; none: never."
    )


class NewApiTokenSerializer(ApiTokenSerializer):
    key = serializers.CharField(read_only=True, help_text="The secret, shown only here.")

    class Meta(ApiTokenSerializer.Meta):
        fields = (*ApiTokenSerializer.Meta.fields, "key")
        read_only_fields = fields
