"""Console URLs of directories, identity providers, and users and groups."""

from __future__ import annotations

from django.urls import path

from directories.views import (
    directories,
    identity_providers,
    sync_plan,
    sync_settings,
    users_groups,
)

app_name = "directories"
urlpatterns = [
    # Under Connectors in the console, drawn from the directories' schedules and lists.
    path("connectors/sync-plan/", sync_plan.sync_plan_view, name="sync_plan"),
    path("directories/", directories.DirectoryListView.as_view(), name="directory_list"),
    path("directories/add/", directories.DirectoryAddView.as_view(), name="directory_add"),
    path(
        "directories/<int:pk>/", directories.DirectoryDetailView.as_view(), name="directory_detail"
    ),
    path(
        "directories/<int:pk>/delete/",
        directories.DirectoryDeleteView.as_view(),
        name="directory_delete",
    ),
    path(
        "directories/<int:pk>/sync-settings/",
        sync_settings.sync_settings_redirect,
        name="directory_sync_settings_home",
    ),
    path(
        "directories/<int:pk>/sync-settings/sync-connectors/",
        sync_settings.SyncConnectorsView.as_view(),
        name="directory_sync_connectors",
    ),
    path(
        "directories/<int:pk>/sync-settings/<slug:section>/",
        sync_settings.SyncSettingsView.as_view(),
        name="directory_sync_settings",
    ),
    path(
        "directories/<int:pk>/sync-now/",
        directories.SyncNowView.as_view(),
        name="directory_sync_now",
    ),
    path("directories/<int:pk>/review/", directories.ReviewView.as_view(), name="directory_review"),
    path(
        "directories/<int:pk>/reviews/<int:run_pk>/apply/",
        directories.ApplyReviewView.as_view(),
        name="directory_apply_review",
    ),
    path(
        "directories/<int:pk>/sync-without-safeguards/",
        directories.SyncWithoutSafeguardsView.as_view(),
        name="directory_sync_without_safeguards",
    ),
    path(
        "directories/<int:pk>/sync-log/",
        directories.DirectorySyncLogView.as_view(),
        name="directory_sync_log",
    ),
    path(
        "directories/<int:pk>/users/",
        users_groups.DirectoryUserListView.as_view(),
        name="directory_users",
    ),
    path(
        "directories/<int:pk>/users/<int:user_pk>/",
        users_groups.DirectoryUserDetailView.as_view(),
        name="directoryuser_detail",
    ),
    path(
        "directories/<int:pk>/groups/",
        users_groups.DirectoryGroupListView.as_view(),
        name="directory_groups",
    ),
    path(
        "directories/<int:pk>/groups/<int:group_pk>/",
        users_groups.DirectoryGroupDetailView.as_view(),
        name="directorygroup_detail",
    ),
    path("users-groups/", users_groups.users_and_groups, name="users_groups"),
    path("users-groups/all/users/", users_groups.AllUserListView.as_view(), name="all_users"),
    path("users-groups/all/groups/", users_groups.AllGroupListView.as_view(), name="all_groups"),
    path(
        "identity-providers/",
        identity_providers.IdentityProviderListView.as_view(),
        name="identityprovider_list",
    ),
    path(
        "identity-providers/<int:pk>/",
        identity_providers.IdentityProviderDetailView.as_view(),
        name="identityprovider_detail",
    ),
]
