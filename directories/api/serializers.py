"""Serializers of directories, identity providers, Sync Connectors lists and synced entries."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connectors.api.serializers import BriefConnectorSerializer
from connectors.models import Connector
from connectors.protocol import settings as protocol
from console.api import MAX_ID
from directories.choices import MAPPED_FIELDS
from directories.models import (
    SAFEGUARD_FIELDS,
    Directory,
    DirectoryGroup,
    DirectoryUser,
    IdentityProvider,
    validate_dn,
    validate_email_list,
    validate_filter,
)
from directories.services import create_directory, update_directory
from directories.syncplan import collisions_for
from synclog.api.serializers import SyncRunSummarySerializer
from synclog.queries import syncs


class DNField(serializers.CharField):
    """A DN, checked by the model's validator (the rule the console and the agent share)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 500)
        kwargs.setdefault("validators", [validate_dn])
        super().__init__(**kwargs)


class FilterField(serializers.CharField):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 1000)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("required", False)
        kwargs.setdefault("validators", [validate_filter])
        super().__init__(**kwargs)


@extend_schema_field(
    {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "example": "02:00"}
)
class ClockTimeField(serializers.TimeField):
    """A time of day as HH:MM (the service's time zone); HH:MM:SS is accepted too."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("format", "%H:%M")
        kwargs.setdefault("input_formats", ["%H:%M", "%H:%M:%S"])
        super().__init__(**kwargs)


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
    sync_time = ClockTimeField(required=False)
    notification_emails = serializers.ListField(
        child=serializers.CharField(max_length=254),
        required=False,
        validators=[validate_email_list],
        help_text="Told when a sync fails, is stopped by a safeguard or leaves member "
        "references unresolved (once per streak, and once on recovery); empty: the Super "
        "Admins' addresses.",
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
    password_unreadable = serializers.BooleanField(
        source="bind_password_lost",
        read_only=True,
        help_text="True when the stored bind password cannot be decrypted (the key changed); "
        "write bind_password again.",
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
            "password_unreadable",
            "user_dns",
            "user_filter",
            "group_dns",
            "group_filter",
            "mapped_attributes",
            "sync_frequency",
            "sync_time",
            "sync_weekday",
            "sync_time_zone",
            *SAFEGUARD_FIELDS,
            "notification_emails",
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
        """The last sync (reviews write nothing and are left out)."""
        runs = getattr(directory, "latest_runs", None)
        if runs is None:
            runs = list(syncs().filter(directory=directory).order_by("-created", "-id")[:1])
        return SyncRunSummarySerializer(runs[0]).data if runs else None

    def get_schedule_warnings(self, directory: Directory) -> list[str]:
        names = [c.other.name for c in collisions_for(directory)]
        return list(dict.fromkeys(names))

    def validate_mapped_attributes(self, value: dict) -> dict:
        try:
            return protocol.check_mapped_attributes(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc

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
            # Fields left out keep their current attribute.
            validated_data["mapped_attributes"] = {**directory.mapped_attributes, **mapped}
        try:
            return update_directory(directory, validated_data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(serializers.as_serializer_error(exc)) from exc


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
    not_associated = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Listed connectors not associated with the directory's WorkspaceIDP: they "
        "sync it but do not authenticate its users (rule S7).",
    )
    warning = serializers.CharField(
        read_only=True, help_text="The console's warning about `not_associated`; empty if none."
    )


class SyncConnectorsUpdateSerializer(serializers.Serializer):
    connectors = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
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
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), allow_empty=True
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


class SyncRequestSerializer(serializers.Serializer):
    """What a POST to a directory's sync-runs asks for."""

    dry_run = serializers.BooleanField(
        default=False, help_text="A review: read and plan like a sync, write nothing."
    )
    ignore_safeguards = serializers.BooleanField(
        default=False,
        help_text="This one sync ignores the thresholds and the zero-result guard.",
    )
    reviewed_run = serializers.IntegerField(
        required=False, min_value=1, help_text="The id of the finished review this sync applies."
    )

    def validate_reviewed_run(self, value: int):
        review = self.context["directory"].sync_runs.filter(pk=value).first()
        if review is None:
            raise serializers.ValidationError("No run of this directory has this id.")
        return review

    def validate(self, data: dict) -> dict:
        if data["dry_run"] and (data["ignore_safeguards"] or data.get("reviewed_run")):
            raise serializers.ValidationError(
                "A review writes nothing: it takes neither ignore_safeguards nor reviewed_run."
            )
        return data


class ConnectionTestSerializer(serializers.Serializer):
    """What Test Connection found: the same words as the console shows."""

    ok = serializers.BooleanField(read_only=True)
    message = serializers.CharField(read_only=True)
    problem = serializers.CharField(
        read_only=True, help_text='The failure in plain words ("Invalid credentials"); "" if ok'
    )
