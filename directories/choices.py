"""Enumerations for directories and their sync settings."""

from __future__ import annotations

from django.db import models

from connectors.protocol import settings


class DirectoryType(models.TextChoices):
    ACTIVE_DIRECTORY = "ad", "Active Directory over LDAP"
    LDAP = "ldap", "LDAP Directory"


class Security(models.TextChoices):
    NONE = "none", "None"
    SSL = "ssl", "SSL (LDAPS)"
    STARTTLS = "starttls", "StartTLS"


class SyncFrequency(models.TextChoices):
    MANUAL = "manual", "Manual"
    EVERY_15_MINUTES = "15m", "Every 15 minutes"
    HOURLY = "hourly", "Every hour"
    EVERY_3_HOURS = "3h", "Every 3 hours"
    EVERY_6_HOURS = "6h", "Every 6 hours"
    EVERY_12_HOURS = "12h", "Every 12 hours"
    DAILY = "daily", "Once a day"
    WEEKLY = "weekly", "Once a week"


# Frequencies that start at a time of day (the others run every n minutes or hours).
TIMED_FREQUENCIES = frozenset({SyncFrequency.DAILY, SyncFrequency.WEEKLY})


class Weekday(models.IntegerChoices):
    MONDAY = 1, "Monday"
    TUESDAY = 2, "Tuesday"
    WEDNESDAY = 3, "Wednesday"
    THURSDAY = 4, "Thursday"
    FRIDAY = 5, "Friday"
    SATURDAY = 6, "Saturday"
    SUNDAY = 0, "Sunday"


# The defaults and the field names are the agent's own (one Django-free module for both).
MAPPED_FIELDS = settings.MAPPED_FIELDS
DEFAULT_MAPPED_ATTRIBUTES = {
    DirectoryType(kind): mapping for kind, mapping in settings.DEFAULT_MAPPINGS.items()
}
DEFAULT_FILTERS = {
    DirectoryType(kind): (filters["users"], filters["groups"])
    for kind, filters in settings.DEFAULT_FILTERS.items()
}
