"""API views of directories, their Sync Connectors lists, sync runs and synced entries."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import (
    Prefetch,
    QuerySet,
)
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import ValidationError, as_serializer_error

from console.api import ID_PATTERN
from console.api_errors import ApiError
from directories import graph
from directories.api.serializers import (
    ConnectionTestSerializer,
    DirectoryGroupSerializer,
    DirectorySerializer,
    DirectoryUserSerializer,
    GroupMemberSerializer,
    IdentityProviderConnectorsSerializer,
    IdentityProviderSerializer,
    SyncConnectorsSerializer,
    SyncConnectorsUpdateSerializer,
    SyncRequestSerializer,
)
from directories.failover import (
    effective_sync_connectors,
    not_associated,
    not_associated_warning,
    sync_connector_list,
    sync_connectors_feature,
)
from directories.filtersets import SEARCH_HELP, DirectoryGroupFilterSet, DirectoryUserFilterSet
from directories.models import (
    Directory,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupNesting,
    IdentityProvider,
    SyncConnectorEntry,
)
from directories.queries import count_of
from directories.services import (
    StaleSyncConnectors,
    SyncConnectorsUnavailable,
    delete_directory,
    directory_with_changes,
    new_directory,
    save_sync_connectors,
    set_identity_provider_connectors,
)
from directories.sync.fetch import test_connection
from directories.tasks import start_sync
from synclog.api.serializers import SyncRunSerializer, TriggeredSyncRunSerializer
from synclog.api.views import filtered
from synclog.choices import Trigger
from synclog.lifecycle import NotAReview, RunWaiting
from synclog.queries import runs_with_attempts, syncs

# An empty filter means "the type's default", which the service fills in.
FILTER_FIELDS = ("user_filter", "group_filter")
ETAG = OpenApiParameter(
    "ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=[200],
    description="The Sync Connectors list's version, for If-Match.",
)  # fmt: skip
IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="The ETag of the list this change was made to.",
)  # fmt: skip


def list_etag(version: int) -> str:
    return f'"{version}"'


SEARCH = OpenApiParameter("search", OpenApiTypes.STR, description=SEARCH_HELP)


def sync_connectors_state(directory: Directory) -> dict:
    feature = sync_connectors_feature()
    effective, fallback = effective_sync_connectors(directory)
    outside = not_associated(directory, sync_connector_list(directory))
    return {
        "version": directory.sync_connectors_version,
        "available": feature.available,
        "reason": feature.reason,
        "outdated_connectors": [c.name for c in feature.outdated],
        "connectors": directory.sync_entries.select_related("connector"),
        "effective": [c.name for c in effective],
        "fallback": fallback,
        "not_associated": [c.name for c in outside],
        "warning": not_associated_warning(directory, outside),
    }


class DirectoryViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    lookup_value_regex = ID_PATTERN
    queryset = Directory.objects.all()
    serializer_class = DirectorySerializer

    def get_queryset(self) -> QuerySet[Directory]:
        if self.action not in ("list", "retrieve", "create", "partial_update"):
            return Directory.objects.all()
        return Directory.objects.annotate(
            users_count=count_of(DirectoryUser, "directory"),
            groups_count=count_of(DirectoryGroup, "directory"),
        ).prefetch_related(
            Prefetch(
                "sync_entries", queryset=SyncConnectorEntry.objects.select_related("connector")
            ),
            Prefetch(
                "sync_runs",
                # The last sync: a review writes nothing, so it is not the last sync.
                queryset=syncs().order_by("-created", "-id")[:1],
                to_attr="latest_runs",
            ),
        )

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "schedule_warnings": self.action != "list"}

    def _fresh(self, directory: Directory) -> dict:
        return self.get_serializer(self.get_queryset().get(pk=directory.pk)).data

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        directory = serializer.save()
        return Response(self._fresh(directory), status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        directory = serializer.save()
        return Response(self._fresh(directory))

    def perform_destroy(self, instance: Directory) -> None:
        delete_directory(instance)

    def _tested(self, directory: Directory) -> Response:
        return Response(ConnectionTestSerializer(test_connection(directory)).data)

    @extend_schema(
        operation_id="directories_test_new_connection",
        request=DirectorySerializer,
        responses=ConnectionTestSerializer,
        description="Test Connection for a directory not added yet: the typed values (the "
        "body of a create) are tried through the chosen sync connector. Nothing is stored.",
    )
    @action(detail=False, methods=["post"], url_path="test-connection")
    def test_new_connection(self, request: Request) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = {k: v for k, v in body.validated_data.items() if v or k not in FILTER_FIELDS}
        return self._tested(new_directory(**fields))

    @extend_schema(
        request=DirectorySerializer(partial=True),
        responses=ConnectionTestSerializer,
        description="Test Connection with typed changes to a directory (the body of a PATCH; "
        "none: its stored settings) through its Sync Connectors list. Nothing is stored.",
    )
    @action(detail=True, methods=["post"], url_path="test-connection")
    def test_typed_connection(self, request: Request, pk: str | None = None) -> Response:
        directory = self.get_object()
        body = self.get_serializer(directory, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        if "mapped_attributes" in changes:
            changes["mapped_attributes"] = {
                **directory.mapped_attributes,
                **changes["mapped_attributes"],
            }
        try:
            typed = directory_with_changes(
                directory, changes, typed_password=changes.get("bind_password") or None
            )
        except DjangoValidationError as exc:
            raise ValidationError(as_serializer_error(exc)) from exc
        return self._tested(typed)

    @extend_schema(methods=["GET"], parameters=[ETAG], responses=SyncConnectorsSerializer)
    @extend_schema(
        methods=["PUT"],
        request=SyncConnectorsUpdateSerializer,
        parameters=[IF_MATCH, ETAG],
        description="Replace the list. Send the ETag of the list you edited as If-Match (or "
        "its `version` in the body): a list saved by someone else since is refused (412 for "
        "If-Match, 409 `stale` for `version`) instead of overwritten. Neither: saved as sent.",
        responses={
            200: SyncConnectorsSerializer,
            400: OpenApiResponse(description="Duplicate or unknown connectors."),
            412: OpenApiResponse(description="If-Match names a version that is not current."),
            409: OpenApiResponse(
                description="The list was saved by someone else since `version`, or the "
                "feature is unavailable (cloud mode, or `outdated_connectors` need upgrading)."
            ),
        },
    )
    @action(detail=True, methods=["get", "put"], url_path="sync-connectors")
    def sync_connectors(self, request: Request, pk: str | None = None) -> Response:
        """The directory's Sync Connectors list in failover order (rules S1, S5, S6, S8)."""
        directory = self.get_object()
        if request.method == "PUT":
            body = SyncConnectorsUpdateSerializer(data=request.data)
            body.is_valid(raise_exception=True)
            expected = body.validated_data.get("version")
            if_match = request.headers.get("If-Match")
            if if_match is not None:
                expected = self._matched_version(directory, if_match)
            try:
                save_sync_connectors(
                    directory, body.validated_data["connectors"], expected_version=expected
                )
            except SyncConnectorsUnavailable as exc:
                outdated = [c.name for c in sync_connectors_feature().outdated]
                raise ApiError(
                    str(exc),
                    code="sync_connectors_unavailable",
                    status_code=status.HTTP_409_CONFLICT,
                    outdated_connectors=outdated,
                ) from exc
            except StaleSyncConnectors as exc:
                directory.refresh_from_db(fields=["sync_connectors_version"])
                if if_match is not None:
                    # Saved by someone else between the If-Match check and the save.
                    self._matched_version(directory, if_match)
                raise ApiError(
                    str(exc),
                    code="stale",
                    status_code=status.HTTP_409_CONFLICT,
                    version=directory.sync_connectors_version,
                ) from exc
            except DjangoValidationError as exc:
                raise ValidationError({"connectors": exc.messages}) from exc
        directory.refresh_from_db(fields=["sync_connectors_version"])
        answer = Response(SyncConnectorsSerializer(sync_connectors_state(directory)).data)
        answer["ETag"] = list_etag(directory.sync_connectors_version)
        return answer

    @staticmethod
    def _matched_version(directory: Directory, if_match: str) -> int:
        """The list version If-Match names, when it is the current one; else a 412."""
        current = directory.sync_connectors_version
        tags = [tag.strip() for tag in if_match.split(",")]
        if "*" in tags or list_etag(current) in tags:
            return current
        raise ApiError(
            "The Sync Connectors list changed since the version in If-Match; "
            "GET it again, reapply your change, and save with the new ETag.",
            code="precondition_failed",
            status_code=status.HTTP_412_PRECONDITION_FAILED,
            headers={"ETag": list_etag(current)},
            version=current,
        )

    @extend_schema(
        methods=["GET"],
        responses=SyncRunSerializer(many=True),
        description="The directory's sync runs, newest first.",
    )
    @extend_schema(
        methods=["POST"],
        description="Ask for a sync. Answers 202 with the queued run, or 200 with the run "
        "already waiting (`joined`). `dry_run` asks for a review: the run reads and plans "
        "like a sync (trigger `review`) and writes nothing; its changes list what a sync would "
        "do. `ignore_safeguards` runs this one sync past the thresholds and the zero-result "
        "guard. `reviewed_run` applies a finished review. A different kind of run already "
        "waiting is a 409.",
        request=SyncRequestSerializer,
        responses={
            202: TriggeredSyncRunSerializer,
            200: OpenApiResponse(
                TriggeredSyncRunSerializer, description="A run was already queued; joined it."
            ),
            400: OpenApiResponse(description="A bad combination, or not a finished review."),
            409: OpenApiResponse(
                description="Another kind of run (review, sync, sync without safeguards) "
                "is waiting; `waiting_run` names it."
            ),
        },
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="sync-runs",
        serializer_class=SyncRunSerializer,
    )
    def sync_runs(self, request: Request, pk: str | None = None) -> Response:
        directory = self.get_object()
        if request.method == "POST":
            body = SyncRequestSerializer(data=request.data, context={"directory": directory})
            body.is_valid(raise_exception=True)
            asked = body.validated_data
            try:
                run, created = start_sync(
                    directory,
                    Trigger.REVIEW if asked["dry_run"] else Trigger.API,
                    request.user,
                    ignore_safeguards=asked["ignore_safeguards"],
                    reviewed_run=asked.get("reviewed_run"),
                )
            except RunWaiting as exc:
                raise ApiError(
                    str(exc),
                    code="run_waiting",
                    status_code=status.HTTP_409_CONFLICT,
                    waiting_run=exc.run.pk,
                ) from exc
            except NotAReview as exc:
                raise ValidationError({"reviewed_run": [str(exc)]}) from exc
            run = runs_with_attempts().get(pk=run.pk)
            run.joined = not created
            return Response(
                TriggeredSyncRunSerializer(run).data,
                status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
            )
        page = self.paginate_queryset(runs_with_attempts().filter(directory=directory))
        return self.get_paginated_response(SyncRunSerializer(page, many=True).data)

    @extend_schema(parameters=[SEARCH], responses=DirectoryUserSerializer(many=True))
    @action(detail=True, methods=["get"], serializer_class=DirectoryUserSerializer)
    def users(self, request: Request, pk: str | None = None) -> Response:
        """Users synced from the directory."""
        users = filtered(DirectoryUserFilterSet, request, self.get_object().users.all())
        page = self.paginate_queryset(users)
        return self.get_paginated_response(DirectoryUserSerializer(page, many=True).data)

    @extend_schema(parameters=[SEARCH], responses=DirectoryGroupSerializer(many=True))
    @action(detail=True, methods=["get"], serializer_class=DirectoryGroupSerializer)
    def groups(self, request: Request, pk: str | None = None) -> Response:
        """Groups synced from the directory, with their direct member counts."""
        groups = filtered(
            DirectoryGroupFilterSet, request, self.get_object().groups.all()
        ).annotate(
            user_members_count=count_of(GroupMembership, "group"),
            group_members_count=count_of(GroupNesting, "parent"),
        )
        page = self.paginate_queryset(groups)
        return self.get_paginated_response(DirectoryGroupSerializer(page, many=True).data)

    @extend_schema(responses=GroupMemberSerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        url_path=r"groups/(?P<group_id>[0-9]{1,18})/members",
        serializer_class=GroupMemberSerializer,
    )
    def group_members(
        self, request: Request, pk: str | None = None, group_id: str = ""
    ) -> Response:
        """A synced group's direct members (users, then groups), as the directory lists them."""
        directory = self.get_object()
        group = directory.groups.filter(pk=int(group_id)).first() if len(group_id) < 19 else None
        if group is None:
            raise NotFound("No such group in this directory.")
        members = graph.direct_members(group)
        page = self.paginate_queryset(members)
        rows = [dict(zip(graph.MEMBER_COLUMNS, row, strict=True)) for row in page]
        return self.get_paginated_response(GroupMemberSerializer(rows, many=True).data)


class IdentityProviderViewSet(viewsets.ReadOnlyModelViewSet):
    lookup_value_regex = ID_PATTERN
    serializer_class = IdentityProviderSerializer
    queryset = IdentityProvider.objects.prefetch_related("connectors", "directories")

    @extend_schema(
        request=IdentityProviderConnectorsSerializer, responses=IdentityProviderSerializer
    )
    @action(detail=True, methods=["put"])
    def connectors(self, request: Request, pk: str | None = None) -> Response:
        """Replace the connectors associated with the identity provider (rule S7)."""
        idp = self.get_object()
        body = IdentityProviderConnectorsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            set_identity_provider_connectors(idp, body.validated_data["connectors"])
        except DjangoValidationError as exc:
            raise ValidationError({"connectors": exc.messages}) from exc
        return Response(IdentityProviderSerializer(self.get_queryset().get(pk=idp.pk)).data)
