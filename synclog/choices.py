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


class Trigger(models.TextChoices):
    MANUAL = "manual", "Sync Now"
    SCHEDULED = "scheduled", "Schedule"
    API = "api", "API"


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


class ChangeAction(models.TextChoices):
    ADDED = "added", "Added"
    UPDATED = "updated", "Updated"
    DELETED = "deleted", "Deleted"
