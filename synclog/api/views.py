"""API views of sync runs (the Sync Log) and their changes (Sync Details)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import ValidationError

from synclog.api.serializers import (
    SyncChangeSerializer,
    SyncRunSerializer,
    SyncWarningSerializer,
)
from synclog.choices import ChangeAction, ChangeKind, RunStatus, WarningKind, WarningReason
from synclog.models import SyncRun
from synclog.queries import runs_with_attempts


def choice_param(request: Request, name: str, choices: type, what: str) -> str | None:
    """A query parameter that must be one of `choices`; a wrong value is a 400, not no rows."""
    value = request.query_params.get(name, "").strip()
    if not value:
        return None
    if value not in choices.values:
        raise ValidationError(
            {name: [f"'{value}' is not a {what}; use one of: {', '.join(choices.values)}."]}
        )
    return value


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("directory", OpenApiTypes.INT, description="Runs of one directory"),
            OpenApiParameter("status", OpenApiTypes.STR, enum=RunStatus.values),
        ]
    )
)
class SyncRunViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = SyncRun.objects.all()
    serializer_class = SyncRunSerializer

    def get_queryset(self) -> QuerySet[SyncRun]:
        runs = runs_with_attempts()
        if self.action != "list":
            return runs
        directory = self.request.query_params.get("directory", "").strip()
        if directory:
            if not directory.isdigit():
                raise ValidationError({"directory": ["Give a directory id (a number)."]})
            runs = runs.filter(directory_id=int(directory))
        run_status = choice_param(self.request, "status", RunStatus, "run status")
        if run_status:
            runs = runs.filter(status=run_status)
        return runs

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, enum=ChangeKind.values),
            OpenApiParameter("action", OpenApiTypes.STR, enum=ChangeAction.values),
        ],
        responses=SyncChangeSerializer(many=True),
    )
    @action(detail=True, methods=["get"], serializer_class=SyncChangeSerializer)
    def changes(self, request: Request, pk: str | None = None) -> Response:
        """The users and groups a run added, updated or deleted (Sync Details)."""
        run = self.get_object()
        changes = run.changes.all()
        kind = choice_param(request, "kind", ChangeKind, "kind of change")
        if kind:
            changes = changes.filter(kind=kind)
        change_action = choice_param(request, "action", ChangeAction, "change action")
        if change_action:
            changes = changes.filter(action=change_action)
        page = self.paginate_queryset(changes)
        return self.get_paginated_response(SyncChangeSerializer(page, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, enum=WarningKind.values),
            OpenApiParameter("reason", OpenApiTypes.STR, enum=WarningReason.values),
        ],
        responses=SyncWarningSerializer(many=True),
    )
    @action(detail=True, methods=["get"], serializer_class=SyncWarningSerializer)
    def warnings(self, request: Request, pk: str | None = None) -> Response:
        """What the run could not sync: unresolved member values and skipped entries.

        The run's `unresolved_references`, `skipped_entries` and `warning_counts` count
        all of them; this list holds the first 1,000.
        """
        run = self.get_object()
        warnings = run.warnings.all()
        kind = choice_param(request, "kind", WarningKind, "kind of warning")
        if kind:
            warnings = warnings.filter(kind=kind)
        reason = choice_param(request, "reason", WarningReason, "warning reason")
        if reason:
            warnings = warnings.filter(reason=reason)
        page = self.paginate_queryset(warnings)
        return self.get_paginated_response(SyncWarningSerializer(page, many=True).data)
