"""API views of synced users and groups across directories (read-only, filterable, paged)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from console.api import ID_PATTERN, MAX_ID
from directories import graph
from directories.api.serializers import (
    DirectoryGroupSerializer,
    DirectoryUserSerializer,
    GroupMemberSerializer,
)
from directories.filtersets import SEARCH_HELP, AllGroupFilterSet, AllUserFilterSet
from directories.models import DirectoryGroup, DirectoryUser, GroupMembership, GroupNesting
from directories.queries import count_of
from synclog.api.views import filtered

FILTERS = [
    OpenApiParameter("search", OpenApiTypes.STR, description=SEARCH_HELP),
    OpenApiParameter(
        "directory",
        {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        description="Only this directory's",
    ),
]


class ListedUserSerializer(DirectoryUserSerializer):
    directory = serializers.IntegerField(source="directory_id", read_only=True)
    directory_name = serializers.CharField(source="directory.name", read_only=True)

    class Meta(DirectoryUserSerializer.Meta):
        fields = [*DirectoryUserSerializer.Meta.fields, "directory", "directory_name"]
        read_only_fields = fields


class ListedGroupSerializer(DirectoryGroupSerializer):
    directory = serializers.IntegerField(source="directory_id", read_only=True)
    directory_name = serializers.CharField(source="directory.name", read_only=True)

    class Meta(DirectoryGroupSerializer.Meta):
        fields = [*DirectoryGroupSerializer.Meta.fields, "directory", "directory_name"]
        read_only_fields = fields


class UserGroupSerializer(serializers.Serializer):
    """A group the user is in: directly, or through the nested group `via`."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    dn = serializers.CharField()
    direct = serializers.BooleanField()
    via = serializers.IntegerField(allow_null=True, help_text="The member group it comes through")
    via_name = serializers.CharField(allow_null=True)


def _group_row(group: DirectoryGroup, via: DirectoryGroup | None = None) -> dict:
    """A user's group; `via` is the member group a nested membership comes through."""
    return {
        "id": group.pk,
        "name": group.name,
        "dn": group.dn,
        "direct": via is None,
        "via": via.pk if via else None,
        "via_name": via.name if via else None,
    }


@extend_schema_view(list=extend_schema(parameters=FILTERS))
class DirectoryUserViewSet(viewsets.ReadOnlyModelViewSet):
    """Synced users of every directory, as the Users & Groups page lists them."""

    lookup_value_regex = ID_PATTERN
    serializer_class = ListedUserSerializer
    queryset = DirectoryUser.objects.all()

    def get_queryset(self) -> QuerySet[DirectoryUser]:
        users = DirectoryUser.objects.select_related("directory").order_by("username", "id")
        if self.action == "list":
            users = filtered(AllUserFilterSet, self.request, users)
        return users

    @extend_schema(responses=UserGroupSerializer(many=True))
    @action(detail=True, methods=["get"], serializer_class=UserGroupSerializer)
    def groups(self, request: Request, pk: str | None = None) -> Response:
        """The user's groups: direct ones first, then those it is in through nesting."""
        direct, inherited = graph.user_groups(self.get_object())
        rows = [_group_row(g) for g in direct] + [_group_row(g, via) for g, via in inherited]
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(UserGroupSerializer(page, many=True).data)


@extend_schema_view(list=extend_schema(parameters=FILTERS))
class DirectoryGroupViewSet(viewsets.ReadOnlyModelViewSet):
    """Synced groups of every directory, with their direct member counts."""

    lookup_value_regex = ID_PATTERN
    serializer_class = ListedGroupSerializer
    queryset = DirectoryGroup.objects.all()

    def get_queryset(self) -> QuerySet[DirectoryGroup]:
        groups = DirectoryGroup.objects.select_related("directory").order_by("name", "id")
        if self.action == "list":
            groups = filtered(AllGroupFilterSet, self.request, groups)
        return groups.annotate(
            user_members_count=count_of(GroupMembership, "group"),
            group_members_count=count_of(GroupNesting, "parent"),
        )

    @extend_schema(responses=GroupMemberSerializer(many=True))
    @action(detail=True, methods=["get"], serializer_class=GroupMemberSerializer)
    def members(self, request: Request, pk: str | None = None) -> Response:
        """The group's direct members (users, then groups)."""
        page = self.paginate_queryset(graph.direct_members(self.get_object()))
        rows = [dict(zip(graph.MEMBER_COLUMNS, row, strict=True)) for row in page]
        return self.get_paginated_response(GroupMemberSerializer(rows, many=True).data)
