"""Serializers of connectors; the connector secret is never one of their fields."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connectors.models import Connector


class BriefConnectorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Connector
        fields = ["id", "name"]


class ConnectorIdentityProviderSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class ConnectorDirectorySerializer(serializers.Serializer):
    """A directory whose Sync Connectors list holds the connector, and its place there."""

    id = serializers.IntegerField(source="directory_id", read_only=True)
    name = serializers.CharField(source="directory.name", read_only=True)
    position = serializers.IntegerField(read_only=True)


class ConnectorSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(
        help_text="Where the service reaches the agent; null until the agent has activated."
    )
    identity_providers = ConnectorIdentityProviderSerializer(many=True, read_only=True)
    directories = ConnectorDirectorySerializer(source="sync_entries", many=True, read_only=True)

    class Meta:
        model = Connector
        fields = [
            "id",
            "name",
            "host",
            "url",
            "version",
            "activation_state",
            "health",
            "health_message",
            "last_seen",
            "identity_providers",
            "directories",
            "created",
        ]
        read_only_fields = [
            "host",
            "url",
            "version",
            "activation_state",
            "health",
            "health_message",
            "last_seen",
            "created",
        ]

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_url(self, connector: Connector) -> str | None:
        return connector.url or None


class ConnectorWithCodeSerializer(ConnectorSerializer):
    """The connector as answered once, right after a code is issued."""

    activation_code = serializers.CharField(read_only=True)
    activation_code_expires_at = serializers.DateTimeField(read_only=True)

    class Meta(ConnectorSerializer.Meta):
        fields = [*ConnectorSerializer.Meta.fields, "activation_code", "activation_code_expires_at"]


class ConnectorActivationSerializer(serializers.Serializer):
    """What an agent sends to exchange its activation code for a secret."""

    code = serializers.CharField(max_length=200, trim_whitespace=True)
    # Lengths follow the model columns so an oversized value is a field error, not a DB error.
    url = serializers.CharField(max_length=200)
    host = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    version = serializers.CharField(max_length=32)


class ConnectorSecretSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    secret = serializers.CharField(read_only=True)
