"""Serializers of sync runs, their attempts and their changes."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from synclog.choices import ReadMode, RunStatus
from synclog.models import SyncAttempt, SyncChange, SyncRun, SyncWarning
from synclog.queries import COUNT_LABELS, review_comparison, run_progress


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


class SyncRunProgressSerializer(serializers.Serializer):
    percent = serializers.IntegerField(
        allow_null=True,
        help_text="Entries received against the directory's previous completed sync, at "
        "most 99 until the run ends; null when there is no previous sync to compare with.",
    )
    estimated_end = serializers.DateTimeField(
        allow_null=True, help_text="The end the pace so far points to."
    )
    previous_total = serializers.IntegerField(
        allow_null=True, help_text="Entries the previous completed sync received."
    )


class ReviewedAppliedSerializer(serializers.Serializer):
    reviewed = serializers.IntegerField()
    applied = serializers.IntegerField()


class ReviewComparisonSerializer(serializers.Serializer):
    review = serializers.IntegerField(help_text="The review this sync applied.")
    changed = serializers.BooleanField(
        help_text="The directory changed between the review and the sync: the sync did "
        "not make exactly the changes the review listed."
    )
    only_reviewed = serializers.IntegerField(
        help_text="Changes the review listed that the sync did not make."
    )
    only_applied = serializers.IntegerField(
        help_text="Changes the sync made that the review did not list."
    )
    counts = serializers.DictField(child=ReviewedAppliedSerializer())


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
    read_mode = serializers.ChoiceField(
        choices=ReadMode.choices,
        allow_blank=True,
        read_only=True,
        help_text="How the connector read the directory: full or incremental; empty "
        "until the read has begun.",
    )
    progress = serializers.SerializerMethodField(
        help_text="How far a running run has read (the console's estimate); null when "
        "the run is not running."
    )
    review_comparison = serializers.SerializerMethodField(
        help_text="For a completed sync that applied a review: what it did beside what "
        "the review listed; null otherwise."
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
            "progress",
            "review_comparison",
            "attempts",
        ]
        read_only_fields = fields

    @extend_schema_field(SyncRunProgressSerializer(allow_null=True))
    def get_progress(self, run: SyncRun) -> dict[str, Any] | None:
        if run.status != RunStatus.RUNNING:
            return None
        progress = run_progress(run)
        return SyncRunProgressSerializer(progress).data

    @extend_schema_field(ReviewComparisonSerializer(allow_null=True))
    def get_review_comparison(self, run: SyncRun) -> dict[str, Any] | None:
        comparison = review_comparison(run)
        if comparison is None:
            return None
        labels = dict((label, name) for name, label in COUNT_LABELS)
        return {
            "review": comparison.review.pk,
            "changed": comparison.changed,
            "only_reviewed": comparison.only_reviewed,
            "only_applied": comparison.only_applied,
            "counts": {
                labels[label]: {"reviewed": reviewed, "applied": applied}
                for label, reviewed, applied in comparison.rows
            },
        }


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
