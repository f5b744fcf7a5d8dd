"""API views of sync runs (the Sync Log) and their changes (Sync Details)."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import ValidationError

from console.api import ID_PATTERN, CSVRenderer
from synclog import export
from synclog.api.serializers import (
    SyncChangeSerializer,
    SyncRunSerializer,
    SyncWarningSerializer,
)
from synclog.choices import ChangeAction, ChangeKind, WarningKind, WarningReason
from synclog.filtersets import SyncChangeFilterSet, SyncRunFilterSet, SyncWarningFilterSet
from synclog.models import SyncRun
from synclog.queries import runs_with_attempts


def filtered(filterset_class, request: Request, queryset: QuerySet) -> QuerySet:
    """`queryset` narrowed by the list's FilterSet; a bad value is a 400, not no rows."""
    filterset = filterset_class(request.query_params, queryset=queryset)
    # The console's forms send an empty value for "any"; an API client names a value or
    # leaves the parameter out, so an empty choice, id or date is a mistake worth a 400.
    empty = {
        name: ["Give a value, or leave the parameter out."]
        for name, spec in filterset.filters.items()
        if request.query_params.get(name, None) == ""
        and not isinstance(spec, django_filters.CharFilter)
    }
    if empty:
        raise ValidationError(empty)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return filterset.qs


class SyncRunViewSet(viewsets.ReadOnlyModelViewSet):
    lookup_value_regex = ID_PATTERN
    queryset = SyncRun.objects.all()
    serializer_class = SyncRunSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = SyncRunFilterSet

    def get_queryset(self) -> QuerySet[SyncRun]:
        return runs_with_attempts()

    def filter_queryset(self, queryset: QuerySet[SyncRun]) -> QuerySet[SyncRun]:
        # A run is found by its id alone; the list's filters do not hide it.
        return (
            filtered(SyncRunFilterSet, self.request, queryset)
            if self.action == "list"
            else queryset
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, enum=ChangeKind.values),
            OpenApiParameter("action", OpenApiTypes.STR, enum=ChangeAction.values),
        ],
        responses=SyncChangeSerializer(many=True),
    )
    # The run filters narrow the list only; a run's own pages take their own filters.
    @action(detail=True, methods=["get"], serializer_class=SyncChangeSerializer, filter_backends=[])
    def changes(self, request: Request, pk: str | None = None) -> Response:
        """The users and groups a run added, updated or deleted (Sync Details)."""
        run = self.get_object()
        changes = filtered(SyncChangeFilterSet, request, run.changes.all())
        page = self.paginate_queryset(changes)
        return self.get_paginated_response(SyncChangeSerializer(page, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, enum=WarningKind.values),
            OpenApiParameter("reason", OpenApiTypes.STR, enum=WarningReason.values),
        ],
        responses=SyncWarningSerializer(many=True),
    )
    @action(
        detail=True, methods=["get"], serializer_class=SyncWarningSerializer, filter_backends=[]
    )
    def warnings(self, request: Request, pk: str | None = None) -> Response:
        """What the run could not sync: unresolved member values and skipped entries.

        The run's `unresolved_references`, `skipped_entries` and `warning_counts` count
        all of them; this list holds the first 1,000.
        """
        run = self.get_object()
        warnings = filtered(SyncWarningFilterSet, request, run.warnings.all())
        page = self.paginate_queryset(warnings)
        return self.get_paginated_response(SyncWarningSerializer(page, many=True).data)

    @extend_schema(
        filters=True,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV")},
        description="The Sync Log as CSV (sync-log.csv), with the list's filters: the "
        "console's Export CSV.",
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export",
        renderer_classes=[JSONRenderer, CSVRenderer],
    )
    def export_csv(self, request: Request):
        runs = filtered(SyncRunFilterSet, request, runs_with_attempts())
        return export.sync_log_csv(runs)

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", OpenApiTypes.STR, enum=ChangeKind.values),
            OpenApiParameter("action", OpenApiTypes.STR, enum=ChangeAction.values),
        ],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV")},
        description="The run's changes as CSV (sync-<id>-changes.csv), with the changes "
        "list's filters.",
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="changes/export",
        renderer_classes=[JSONRenderer, CSVRenderer],
        filter_backends=[],
    )
    def changes_export(self, request: Request, pk: str | None = None):
        run = self.get_object()
        return export.changes_csv(run, filtered(SyncChangeFilterSet, request, run.changes.all()))
