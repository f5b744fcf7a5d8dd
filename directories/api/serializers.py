"""Serializers of directories, identity providers, Sync Connectors lists and synced entries."""

from __future__ import annotations

import re

import ldap.dn
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connectors.api.serializers import BriefConnectorSerializer
from connectors.models import Connector
from directories.choices import MAPPED_FIELDS
from directories.failover import schedule_collisions
from directories.models import Directory, DirectoryGroup, DirectoryUser, IdentityProvider
from directories.services import (
    check_password_for_connection_change,
    create_directory,
    update_schedule,
)
from synclog.api.serializers import SyncRunSummarySerializer

# An LDAP attribute description: a name (RFC 4512 keystring) or a numeric OID.
_ATTRIBUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$")

SCHEDULE_FIELDS = frozenset({"sync_frequency", "sync_time", "sync_weekday"})

# Chosen when the directory is created; changing them later would orphan its history.
CREATE_ONLY_FIELDS = {
    "type": "The directory type cannot be changed; add a new directory instead.",
    "sync_connector": "The sync connector is chosen when the directory is added; set the "
    "failover order on its Sync Connectors list instead.",
    "identity_provider": "The identity provider is chosen when the directory is added.",
}


def validate_dn(value: str) -> str:
    value = value.strip()
    if not value:
        raise serializers.ValidationError("Enter a DN, e.g. ou=people,dc=example,dc=com.")
    if not ldap.dn.is_dn(value):
        raise serializers.ValidationError(
            f"'{value}' is not a valid DN; write it like ou=people,dc=example,dc=com."
        )
    return value


def validate_filter(value: str) -> str:
    value = value.strip()
    if not value:
        return value
    depth = 0
    for char in value:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if not (value.startswith("(") and value.endswith(")")) or depth != 0:
        raise serializers.ValidationError(
            "Write an LDAP filter in balanced parentheses, e.g. (objectClass=inetOrgPerson)."
        )
    return value


class DNField(serializers.CharField):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 500)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        return validate_dn(super().to_internal_value(data))


class FilterField(serializers.CharField):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 1000)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        return validate_filter(super().to_internal_value(data))


class BriefIdentityProviderSerializer(serializers.ModelSerializer):
    class Meta:
        model = IdentityProvider
        fields = ["id", "name"]


class BriefDirectorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Directory
        fields = ["id", "name"]


class SyncConnectorEntrySerializer(serializers.Serializer):
    """One place in a Sync Connectors list."""

    id = serializers.IntegerField(source="connector_id", read_only=True)
    name = serializers.CharField(source="connector.name", read_only=True)
    position = serializers.IntegerField(read_only=True)


class DirectorySerializer(serializers.ModelSerializer):
    identity_provider = serializers.PrimaryKeyRelatedField(
        queryset=IdentityProvider.objects.all(),
        required=False,
        help_text="Defaults to WorkspaceIDP. Set when the directory is added.",
    )
    sync_connector = serializers.PrimaryKeyRelatedField(
        queryset=Connector.objects.all(),
        help_text="Syncs the directory; the first entry of its Sync Connectors list. "
        "Set when the directory is added.",
    )
    base_dn = DNField()
    bind_dn = DNField()
    bind_password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="Write-only: stored encrypted and never returned.",
    )
    user_dns = serializers.ListField(child=DNField(), required=False)
    user_filter = FilterField()
    group_dns = serializers.ListField(child=DNField(), required=False)
    group_filter = FilterField()
    mapped_attributes = serializers.DictField(
        child=serializers.CharField(max_length=100),
        required=False,
        help_text="LDAP attribute per field (" + ", ".join(MAPPED_FIELDS) + "). "
        "Fields left out keep their current attribute.",
    )
    sync_connectors = SyncConnectorEntrySerializer(source="sync_entries", many=True, read_only=True)
    users_count = serializers.IntegerField(read_only=True)
    groups_count = serializers.IntegerField(read_only=True)
    last_run = serializers.SerializerMethodField()
    schedule_warnings = serializers.SerializerMethodField(
        help_text="Directories on the same schedule whose sync starts with the same connector "
        "(detail responses only)."
    )

    class Meta:
        model = Directory
        fields = [
            "id",
            "name",
            "type",
            "identity_provider",
            "sync_connector",
            "host",
            "port",
            "security",
            "ca_cert",
            "base_dn",
            "bind_dn",
            "bind_password",
            "user_dns",
            "user_filter",
            "group_dns",
            "group_filter",
            "mapped_attributes",
            "sync_frequency",
            "sync_time",
            "sync_weekday",
            "safeguard_users_percent",
            "safeguard_groups_percent",
            "sync_connectors",
            "sync_connectors_version",
            "users_count",
            "groups_count",
            "last_run",
            "schedule_warnings",
            "created",
            "updated",
        ]
        read_only_fields = ["sync_connectors_version", "created", "updated"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Collisions cost queries per pair of directories, so lists leave them to the detail.
        if not self.context.get("schedule_warnings", True):
            self.fields.pop("schedule_warnings")

    @extend_schema_field(SyncRunSummarySerializer(allow_null=True))
    def get_last_run(self, directory: Directory) -> dict | None:
        runs = getattr(directory, "latest_runs", None)
        if runs is None:
            runs = list(directory.sync_runs.order_by("-created", "-id")[:1])
        return SyncRunSummarySerializer(runs[0]).data if runs else None

    def get_schedule_warnings(self, directory: Directory) -> list[str]:
        return [other.name for other in schedule_collisions(directory)]

    def validate_mapped_attributes(self, value: dict) -> dict:
        unknown = sorted(set(value) - set(MAPPED_FIELDS))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown field(s): {', '.join(unknown)}. "
                f"Attributes can be mapped for: {', '.join(MAPPED_FIELDS)}."
            )
        cleaned = {}
        for key, attribute in value.items():
            attribute = attribute.strip()
            if not _ATTRIBUTE.match(attribute):
                raise serializers.ValidationError(
                    f"{key}: '{attribute}' is not an LDAP attribute name such as givenName."
                )
            cleaned[key] = attribute
        return cleaned

    def validate(self, attrs: dict) -> dict:
        if self.instance is not None:
            errors = {
                name: message
                for name, message in CREATE_ONLY_FIELDS.items()
                if name in attrs and attrs[name] != getattr(self.instance, name)
            }
            if errors:
                raise serializers.ValidationError(errors)
            try:
                check_password_for_connection_change(
                    self.instance, attrs, attrs.get("bind_password")
                )
            except DjangoValidationError as exc:
                raise serializers.ValidationError(serializers.as_serializer_error(exc)) from exc
        return attrs

    def create(self, validated_data: dict) -> Directory:
        for name in ("user_filter", "group_filter"):
            # An empty filter means "the type's default", which the service fills in.
            if not validated_data.get(name):
                validated_data.pop(name, None)
        try:
            return create_directory(**validated_data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from exc

    def update(self, directory: Directory, validated_data: dict) -> Directory:
        mapped = validated_data.pop("mapped_attributes", None)
        if mapped is not None:
            directory.mapped_attributes = {**directory.mapped_attributes, **mapped}
        for name, value in validated_data.items():
            setattr(directory, name, value)
        try:
            with transaction.atomic():
                directory.full_clean()
                directory.save()
                if SCHEDULE_FIELDS & validated_data.keys():
                    update_schedule(directory)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from exc
        return directory


class SyncConnectorsSerializer(serializers.Serializer):
    """A directory's Sync Connectors list and whether it may be edited."""

    version = serializers.IntegerField(
        read_only=True, help_text="Send it back with a change to detect concurrent edits."
    )
    available = serializers.BooleanField(read_only=True)
    reason = serializers.CharField(read_only=True)
    outdated_connectors = serializers.ListField(child=serializers.CharField(), read_only=True)
    connectors = SyncConnectorEntrySerializer(many=True, read_only=True)
    effective = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Connectors the next sync will try, in order.",
    )
    fallback = serializers.BooleanField(
        read_only=True, help_text="False when the next sync uses the sync connector alone."
    )


class SyncConnectorsUpdateSerializer(serializers.Serializer):
    connectors = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        allow_empty=True,
        help_text="Connector ids in failover order.",
    )
    version = serializers.IntegerField(
        min_value=0,
        required=False,
        help_text="The version you read; a different stored version answers 409.",
    )


class IdentityProviderSerializer(serializers.ModelSerializer):
    connectors = BriefConnectorSerializer(many=True, read_only=True)
    directories = BriefDirectorySerializer(many=True, read_only=True)

    class Meta:
        model = IdentityProvider
        fields = ["id", "name", "connectors", "directories", "created"]
        read_only_fields = fields


class IdentityProviderConnectorsSerializer(serializers.Serializer):
    connectors = serializers.ListField(
        child=serializers.IntegerField(min_value=1), allow_empty=True
    )


class DirectoryUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = DirectoryUser
        fields = [
            "id",
            "external_id",
            "dn",
            "username",
            "first_name",
            "last_name",
            "email",
            "display_name",
            "upn",
            "disabled",
            "synced_at",
        ]
        read_only_fields = fields


class DirectoryGroupSerializer(serializers.ModelSerializer):
    user_members_count = serializers.IntegerField(read_only=True, help_text="Direct user members")
    group_members_count = serializers.IntegerField(read_only=True, help_text="Direct member groups")

    class Meta:
        model = DirectoryGroup
        fields = [
            "id",
            "external_id",
            "dn",
            "name",
            "user_members_count",
            "group_members_count",
            "synced_at",
        ]
        read_only_fields = fields


class GroupMemberSerializer(serializers.Serializer):
    """A direct member of a group: a synced user or a synced group."""

    type = serializers.ChoiceField(choices=["user", "group"], read_only=True)
    id = serializers.IntegerField(read_only=True)
    external_id = serializers.CharField(read_only=True)
    dn = serializers.CharField(read_only=True, help_text="As the directory spells it")
    name = serializers.CharField(read_only=True, help_text="Username, or the group's name")
