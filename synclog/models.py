"""Sync runs, the connectors each tried, and the changes each applied (Sync Details)."""

from __future__ import annotations

from django.db import models
from django.urls import reverse
from django.utils import timezone

from synclog.choices import (
    ENTRY_TYPES,
    AttemptOutcome,
    ChangeAction,
    ChangeKind,
    ReadMode,
    RunPhase,
    RunStatus,
    Trigger,
    WarningKind,
    WarningReason,
)

COUNT_FIELDS = (
    "users_added",
    "users_updated",
    "users_deleted",
    "groups_added",
    "groups_updated",
    "groups_deleted",
    "memberships_added",
    "memberships_removed",
)

# A run lists at most this many warnings one by one; its counts cover all of them.
WARNINGS_LISTED = 1000


class SyncRun(models.Model):
    directory = models.ForeignKey(
        "directories.Directory", on_delete=models.CASCADE, related_name="sync_runs"
    )
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    requested_by = models.ForeignKey(
        "console.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The list this run used, frozen at start (rule S9): [{"id", "name", "position"}, ...].
    connector_snapshot = models.JSONField(default=list, blank=True)
    used_fallback_list = models.BooleanField(
        default=True, help_text="False when the list was empty and the sync connector was used"
    )
    connector_used = models.ForeignKey(
        "connectors.Connector", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    connector_used_name = models.CharField(max_length=100, blank=True)
    # The heartbeat's copy, a beat behind a failover; shown through `current_attempt` instead.
    current_connector_name = models.CharField(max_length=100, blank=True)
    phase = models.CharField(max_length=10, choices=RunPhase.choices, blank=True, default="")
    entries_received = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    worker = models.CharField(max_length=255, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    first_sync = models.BooleanField(default=False)
    # How the directory was read: in full, or only what changed since the last sync's
    # watermark (with a listing of every id in scope); why, when it was read in full.
    read_mode = models.CharField(max_length=12, choices=ReadMode.choices, blank=True, default="")
    read_reason = models.TextField(blank=True, default="")
    # What the agent said to send back as `changes_since` (with the settings it holds for).
    read_watermark = models.JSONField(null=True, blank=True, default=None)
    # The review this sync applies (Apply on a review's page).
    reviewed_run = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="applied_runs",
        help_text="The review this sync applies",
    )
    # "Sync without safeguards": this run alone ignores the thresholds and the zero-result
    # guard; who asked is kept even if the run's requester changes.
    ignore_safeguards = models.BooleanField(default=False)
    safeguards_ignored_by = models.ForeignKey(
        "console.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Each safeguard the plan went past, in words: why the run stopped, what a review found,
    # or what a run without safeguards ignored.
    safeguard_violations = models.JSONField(default=list, blank=True)

    users_added = models.PositiveIntegerField(default=0)
    users_updated = models.PositiveIntegerField(default=0)
    users_deleted = models.PositiveIntegerField(default=0)
    groups_added = models.PositiveIntegerField(default=0)
    groups_updated = models.PositiveIntegerField(default=0)
    groups_deleted = models.PositiveIntegerField(default=0)
    memberships_added = models.PositiveIntegerField(default=0)
    memberships_removed = models.PositiveIntegerField(default=0)
    # What the run could not sync (each listed as a SyncWarning, up to WARNINGS_LISTED).
    unresolved_references = models.PositiveIntegerField(
        default=0, help_text="Group member values that match no synced user or group"
    )
    skipped_entries = models.PositiveIntegerField(
        default=0, help_text="User and group entries that could not be synced"
    )
    warning_counts = models.JSONField(
        default=dict, blank=True, help_text="How many warnings of each reason"
    )

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            # At most one running sync and one waiting follow-up per directory, on any worker.
            models.UniqueConstraint(
                fields=["directory"],
                condition=models.Q(status="running"),
                name="%(app_label)s_%(class)s_one_running_per_directory",
            ),
            models.UniqueConstraint(
                fields=["directory"],
                condition=models.Q(status="queued"),
                name="%(app_label)s_%(class)s_one_queued_per_directory",
            ),
        ]
        indexes = [models.Index(fields=["directory", "-created"])]

    def __str__(self) -> str:
        return f"Sync #{self.pk} of {self.directory_id}"

    def get_absolute_url(self) -> str:
        return reverse("synclog:syncrun_detail", args=[self.pk])

    @property
    def is_review(self) -> bool:
        return self.trigger == Trigger.REVIEW

    @property
    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNT_FIELDS}

    @property
    def is_active(self) -> bool:
        return self.status in (RunStatus.QUEUED, RunStatus.RUNNING)

    @property
    def status_colour(self) -> str:
        return RunStatus.colour(self.status)

    @property
    def duration(self):
        if not self.started_at:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def current_attempt(self) -> SyncAttempt | None:
        """The attempt a running run is on now: the connector it reads through, or whose
        read it is applying. None when the run is not running or is between two attempts.

        The one answer to "which connector is this run on now" for the row, the run page,
        the live progress and the API; it reads the attempts (prefetched by
        `synclog.queries.runs_with_attempts`), never the heartbeat's copy of the name,
        which lags a failover by up to a beat.
        """
        if self.status != RunStatus.RUNNING:
            return None
        latest = max(self.attempts.all(), key=lambda a: a.position, default=None)
        if latest is None or latest.outcome not in (
            AttemptOutcome.RUNNING,
            AttemptOutcome.SUCCEEDED,
        ):
            return None
        return latest

    @property
    def snapshot_names(self) -> list[str]:
        return [entry["name"] for entry in self.connector_snapshot]

    @property
    def has_warnings(self) -> bool:
        return bool(self.unresolved_references or self.skipped_entries)

    @property
    def warning_summary(self) -> list[tuple[str, int]]:
        """(reason label, count) for each reason the run met, most frequent first."""
        labels = dict(WarningReason.choices)
        counts = sorted(self.warning_counts.items(), key=lambda item: (-item[1], item[0]))
        return [(labels.get(reason, reason), count) for reason, count in counts]


class SyncAttempt(models.Model):
    """One connector tried by a run, in order."""

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="attempts")
    position = models.PositiveSmallIntegerField()
    connector = models.ForeignKey(
        "connectors.Connector", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    connector_name = models.CharField(max_length=100)
    outcome = models.CharField(
        max_length=16, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    entries_received = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "position"], name="%(app_label)s_%(class)s_unique_position"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.connector_name}: {self.outcome}"

    @property
    def duration(self):
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def outcome_colour(self) -> str:
        return AttemptOutcome.colour(self.outcome)


class SyncChange(models.Model):
    """One user or group added, updated or deleted by a run, or one membership it changed.

    A membership row is its member's (user or nested group: `external_id`, `name`, `dn`);
    `details` names the group (`group`, `group_id`) and the `member_type`.
    """

    # The (run, kind, action) index serves lookups by run. No database-level foreign key:
    # a first sync writes one row per object, and checking each against the run row costs
    # about a second per 100,000 rows. Rows are written only in the transaction that
    # completes their (locked) run, and leave with it through the ORM's cascade.
    run = models.ForeignKey(
        SyncRun,
        on_delete=models.CASCADE,
        related_name="changes",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(max_length=10, choices=ChangeKind.choices)
    action = models.CharField(max_length=8, choices=ChangeAction.choices)
    external_id = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    dn = models.TextField("DN", blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "id"]
        indexes = [models.Index(fields=["run", "kind", "action"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} {self.action}"

    @property
    def detail_lines(self) -> list[str]:
        """The change in words: each field's old -> new value, members gained and lost, the
        group a member joins or leaves."""
        if self.kind == ChangeKind.MEMBERSHIP:
            verb = "joins" if self.action == ChangeAction.ADDED else "leaves"
            nested = (
                " (nested group)" if self.details.get("member_type") == ChangeKind.GROUP else ""
            )
            return [f"{verb} {self.details.get('group', '')}{nested}"]
        lines = []
        for key, value in self.details.items():
            if isinstance(value, list) and len(value) == 2:
                old, new = (repr(v) if v not in ("", None) else "(empty)" for v in value)
                lines.append(f"{key.replace('_', ' ')}: {old} → {new}")
            elif key == "members":
                lines.append(f"{value} member{'s' if value != 1 else ''}")
            elif key == "members_added":
                lines.append(f"+{value} member{'s' if value != 1 else ''}")
            elif key == "members_removed":
                lines.append(f"−{value} member{'s' if value != 1 else ''}")
        return lines


class SyncWarning(models.Model):
    """Something a run could not sync: a member value it could not resolve, or an entry."""

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="warnings")
    kind = models.CharField(max_length=20, choices=WarningKind.choices)
    reason = models.CharField(max_length=20, choices=WarningReason.choices)
    # The skipped entry, or the group whose member value could not be resolved.
    entry_type = models.CharField(max_length=8, choices=ENTRY_TYPES)
    external_id = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=255, blank=True)
    dn = models.TextField("DN", blank=True)
    # The member value as the directory returned it (unresolved references).
    value = models.TextField(blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "id"]
        indexes = [models.Index(fields=["run", "kind", "reason"])]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.value or self.dn}"


class ConnectorClaim(models.Model):
    """A connector held by one sync run until `until` (rule S11: one directory at a time).

    Renewed by the run's heartbeat; an expired claim may be taken by another run.
    """

    connector = models.OneToOneField(
        "connectors.Connector", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="+")
    until = models.DateTimeField()

    def __str__(self) -> str:
        return f"connector {self.connector_id} held by run {self.run_id}"
