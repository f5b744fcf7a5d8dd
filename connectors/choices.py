"""Status enumerations for connectors."""

from __future__ import annotations

from django.db import models


class ActivationState(models.TextChoices):
    PENDING = "pending", "Waiting for activation"
    ACTIVE = "active", "Activated"
    DEACTIVATED = "deactivated", "Deactivated"


class HealthState(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    OK = "ok", "OK"
    UNREACHABLE = "unreachable", "Unreachable"
    UNAUTHORIZED = "unauthorized", "Unauthorized"
    OUTDATED = "outdated", "Outdated"

    @classmethod
    def colour(cls, value: str) -> str:
        colours: dict[str, str] = {
            cls.OK: "success",
            cls.UNREACHABLE: "danger",
            cls.UNAUTHORIZED: "danger",
            cls.OUTDATED: "warning",
        }
        return colours.get(value, "neutral")
