"""Serializers of sync runs, their attempts and their changes."""

from __future__ import annotations

from rest_framework import serializers

from synclog.models import SyncAttempt, SyncChange, SyncRun, SyncWarning


class SyncRunDirectorySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class SyncAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncAttempt
        fields = [
            "position",
            "connector",
            "connector_name",
            "outcome",
            "started_at",
            "finished_at",
            "entries_received",
            "message",
        ]
        read_only_fields = fields


class SyncRunSummarySerializer(serializers.ModelSerializer):
    """The gist of a run, as shown beside a directory."""

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "status",
            "trigger",
            "created",
            "started_at",
            "finished_at",
            "connector_used_name",
            "message",
        ]
        read_only_fields = fields


class SyncRunSerializer(serializers.ModelSerializer):
    directory = SyncRunDirectorySerializer(read_only=True)
    requested_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Who started the run; null for scheduled runs and deleted accounts.",
    )
    attempts = SyncAttemptSerializer(many=True, read_only=True)
    current_connector_name = serializers.CharField(
        source="current_attempt.connector_name",
        default="",
        read_only=True,
        help_text="The connector a running run is on now (its current attempt); empty "
        "when the run is not running.",
    )
    safeguards_ignored_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Who asked this run to ignore the safeguards.",
    )
    safeguard_violations = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Each safeguard the plan went past: why the run stopped, what a review "
        "found, or what a run without safeguards ignored.",
    )

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "directory",
            "status",
            "trigger",
            "requested_by",
            "created",
            "started_at",
            "finished_at",
            "connector_snapshot",
            "used_fallback_list",
            "connector_used",
            "connector_used_name",
            "current_connector_name",
            "phase",
            "entries_received",
            "read_mode",
            "read_reason",
            "first_sync",
            "reviewed_run",
            "ignore_safeguards",
            "safeguards_ignored_by",
            "safeguard_violations",
            "message",
            "users_added",
            "users_updated",
            "users_deleted",
            "groups_added",
            "groups_updated",
            "groups_deleted",
            "memberships_added",
            "memberships_removed",
            "unresolved_references",
            "skipped_entries",
            "warning_counts",
            "attempts",
        ]
        read_only_fields = fields


class TriggeredSyncRunSerializer(SyncRunSerializer):
    """A run answered to a sync request; `joined` tells that it was already waiting."""

    joined = serializers.BooleanField(read_only=True)

    class Meta(SyncRunSerializer.Meta):
        fields = [*SyncRunSerializer.Meta.fields, "joined"]
        read_only_fields = fields


class SyncChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncChange
        fields = ["id", "kind", "action", "external_id", "name", "dn", "details"]
        read_only_fields = fields


class SyncWarningSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncWarning
        fields = [
            "id",
            "kind",
            "reason",
            "entry_type",
            "external_id",
            "name",
            "dn",
            "value",
            "detail",
        ]
        read_only_fields = fields
