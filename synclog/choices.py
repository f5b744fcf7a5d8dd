"""Statuses of sync runs, attempts and changes."""

from __future__ import annotations

from django.db import models


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    SAFEGUARD = "safeguard", "Stopped by safeguard"

    @classmethod
    def colour(cls, value: str) -> str:
        colours: dict[str, str] = {
            cls.QUEUED: "neutral",
            cls.RUNNING: "info",
            cls.COMPLETED: "success",
            cls.FAILED: "danger",
            cls.SAFEGUARD: "warning",
        }
        return colours[value]


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class RunPhase(models.TextChoices):
    """What a running sync is doing now."""

    NONE = "", "—"
    READING = "reading", "Reading the directory"
    APPLYING = "applying", "Applying changes"


class ReadMode(models.TextChoices):
    FULL = "full", "Full"
    INCREMENTAL = "incremental", "Incremental"


class Trigger(models.TextChoices):
    MANUAL = "manual", "Sync Now"
    SCHEDULED = "scheduled", "Scheduled"
    API = "api", "API"
    # A dry run: read and planned like a sync, nothing written.
    REVIEW = "review", "Review"


class AttemptOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    UNAVAILABLE = "unavailable", "Unavailable"
    BUSY = "busy", "Busy"
    UNAUTHORIZED = "unauthorized", "Unauthorized"
    DIRECTORY_ERROR = "directory_error", "Directory error"
    INCOMPLETE = "incomplete", "Incomplete stream"

    @classmethod
    def colour(cls, value: str) -> str:
        colours: dict[str, str] = {
            cls.SUCCEEDED: "success",
            cls.RUNNING: "info",
            cls.BUSY: "warning",
        }
        return colours.get(value, "danger")


class ChangeKind(models.TextChoices):
    USER = "user", "User"
    GROUP = "group", "Group"
    # A member (user or nested group) joining or leaving a group: added or deleted.
    MEMBERSHIP = "membership", "Membership"


# What a skipped entry or a group with an unresolved member is: never a membership.
ENTRY_TYPES = [(k.value, k.label) for k in (ChangeKind.USER, ChangeKind.GROUP)]


class ChangeAction(models.TextChoices):
    ADDED = "added", "Added"
    UPDATED = "updated", "Updated"
    DELETED = "deleted", "Deleted"


class WarningKind(models.TextChoices):
    """What a run could not sync: a member value, or a whole entry."""

    UNRESOLVED_MEMBER = "unresolved_member", "Unresolved member reference"
    SKIPPED_ENTRY = "skipped_entry", "Skipped entry"


class WarningReason(models.TextChoices):
    # Why a group's member value matches no synced user or group.
    OUTSIDE_SCOPE = "outside_scope", "Outside the synced user and group DNs"
    NO_ENTRY = "no_entry", "Names no entry in the directory"
    NOT_SYNCED = "not_synced", "Names an entry that is not a synced user or group"
    SKIPPED_ENTRY = "skipped_entry", "Names an entry that was skipped"
    NOT_CHECKED = "not_checked", "Inside the synced DNs but no synced entry (not looked up)"
    INVALID_DN = "invalid_dn", "Not a valid DN"
    # Why an entry was not synced.
    NO_STABLE_ID = "no_stable_id", "No entryUUID / objectGUID"
    NO_USERNAME = "no_username", "No value for the username attribute"
    DUPLICATE_USERNAME = "duplicate_username", "Username held by another entry"
    DUPLICATE_ID = "duplicate_id", "Stable id already seen on another entry"

    @classmethod
    def kind(cls, value: str) -> str:
        """The WarningKind a reason belongs to."""
        if value in _ENTRY_REASONS:
            return WarningKind.SKIPPED_ENTRY
        return WarningKind.UNRESOLVED_MEMBER


_ENTRY_REASONS = frozenset(
    {
        WarningReason.NO_STABLE_ID,
        WarningReason.NO_USERNAME,
        WarningReason.DUPLICATE_USERNAME,
        WarningReason.DUPLICATE_ID,
    }
)
