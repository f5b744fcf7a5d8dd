"""GET /api/v1/sync-plan/: the Sync plan page's analysis (rule S11) for scripts.

For each connector, the directories whose Sync Connectors list holds it, at which position
and on which schedule; and every collision the source warns about, with its remedies.
Computed by `directories.syncplan`, the one owner of the analysis.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from directories import syncplan


class _DirectoryRef(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class _DirectoryUse(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    position = serializers.IntegerField(help_text="1 is the directory's first choice.")
    schedule = serializers.CharField(help_text="The schedule in words, with its time zone.")
    expected_seconds = serializers.IntegerField(
        help_text="Median duration of its last finished syncs (a default when none)."
    )
    measured = serializers.BooleanField(help_text="False when no finished sync gave a duration.")


class _ConnectorUses(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    directories = _DirectoryUse(many=True)


class _Collision(serializers.Serializer):
    case = serializers.CharField(
        help_text="A: the same first connector; B: the same list in the same order; "
        "C: lists that fall back to the same connector."
    )
    reason = serializers.CharField()
    directory = _DirectoryRef(help_text="The directory the remedies change.")
    other = _DirectoryRef()
    connectors = serializers.ListField(child=serializers.CharField())
    first_overlap = serializers.DateTimeField(help_text="When the two first meet (UTC).")
    remedies = serializers.ListField(child=serializers.CharField())


class SyncPlanSerializer(serializers.Serializer):
    connectors = _ConnectorUses(many=True)
    collisions = _Collision(many=True)


def sync_plan_data(plan: syncplan.SyncPlan) -> dict:
    return {
        "connectors": [
            {
                "id": connector.id,
                "name": connector.name,
                "directories": [
                    {
                        "id": use.plan.id,
                        "name": use.plan.name,
                        "position": use.position,
                        "schedule": use.plan.summary,
                        "expected_seconds": int(use.plan.expected.total_seconds()),
                        "measured": use.plan.measured,
                    }
                    for use in uses
                ],
            }
            for connector, uses in plan.uses
        ],
        "collisions": [
            {
                "case": c.letter,
                "reason": c.reason,
                "directory": {"id": c.directory.id, "name": c.directory.name},
                "other": {"id": c.other.id, "name": c.other.name},
                "connectors": [x.name for x in c.connectors],
                "first_overlap": c.first_overlap,
                "remedies": list(c.remedies),
            }
            for c in plan.collisions
        ],
    }


class SyncPlanView(APIView):
    """Which directories each connector can sync, when, and which would collide (read-only;
    every admin role)."""

    @extend_schema(responses=SyncPlanSerializer)
    def get(self, request: Request) -> Response:
        from datetime import UTC

        data = sync_plan_data(syncplan.sync_plan(zone=UTC))
        return Response(SyncPlanSerializer(data).data)
