"""One filter definition per Sync Log list, used by the console and the API alike.

A value outside the choices is an error in both (the API answers 400, the console shows
the message above the table), never a silently ignored filter.
"""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field

from console.api import MAX_ID
from synclog.choices import (
    ChangeAction,
    ChangeKind,
    RunStatus,
    Trigger,
    WarningKind,
    WarningReason,
)
from synclog.models import SyncChange, SyncRun, SyncWarning


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.Filter):
    """A row id: a whole number a 64-bit key can hold (not 1e23, not 1.5)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        kwargs.setdefault("error_messages", {"invalid": "Give a directory id (a number)."})
        super().__init__(*args, **kwargs)


class MomentField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 moment, compared in UTC: any offset the text carries is resolved here,
    so the database never sees one it cannot hold (PostgreSQL stops at ±15:59)."""

    def clean(self, value):
        moment = super().clean(value)
        if moment is None:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        try:
            return moment.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError(
                "Give a date and time between the years 1 and 9999."
            ) from None


class MomentFilter(django_filters.IsoDateTimeFilter):
    field_class = MomentField


def choice(choices: type, what: str, field: str) -> django_filters.ChoiceFilter:
    return django_filters.ChoiceFilter(
        field_name=field,
        choices=choices.choices,
        error_messages={
            "invalid_choice": f"'%(value)s' is not a {what}; use one of: "
            + ", ".join(choices.values)
            + "."
        },
    )


class SyncRunFilterSet(django_filters.FilterSet):
    directory = IdFilter(field_name="directory_id")
    status = choice(RunStatus, "run status", "status")
    trigger = choice(Trigger, "trigger", "trigger")
    connector = django_filters.CharFilter(
        field_name="connector_used_name", help_text="Name of the connector that synced"
    )
    created_after = MomentFilter(field_name="created", lookup_expr="gte")
    created_before = MomentFilter(field_name="created", lookup_expr="lt")

    class Meta:
        model = SyncRun
        fields = ["directory", "status", "trigger", "connector", "created_after", "created_before"]


class SyncChangeFilterSet(django_filters.FilterSet):
    kind = choice(ChangeKind, "kind of change", "kind")
    action = choice(ChangeAction, "change action", "action")

    class Meta:
        model = SyncChange
        fields = ["kind", "action"]


class SyncWarningFilterSet(django_filters.FilterSet):
    kind = choice(WarningKind, "kind of warning", "kind")
    reason = choice(WarningReason, "warning reason", "reason")

    class Meta:
        model = SyncWarning
        fields = ["kind", "reason"]


def filter_errors(filterset: django_filters.FilterSet) -> list[str]:
    """The filterset's errors as sentences, for the console."""
    if filterset.is_valid():
        return []
    return [message for messages in filterset.errors.values() for message in messages]
