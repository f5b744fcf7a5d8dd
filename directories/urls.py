"""Console URLs of directories, identity providers, and users and groups."""

from __future__ import annotations

from django.urls import path

from console.views import home
from directories import views
from synclog.views import DirectorySyncLogView

app_name = "directories"
urlpatterns = [
    path("", home, name="home"),
    path("directories/", views.DirectoryListView.as_view(), name="directory_list"),
    path("directories/add/", views.DirectoryAddView.as_view(), name="directory_add"),
    path("directories/<int:pk>/", views.DirectoryDetailView.as_view(), name="directory_detail"),
    path(
        "directories/<int:pk>/sync-settings/",
        views.sync_settings_redirect,
        name="directory_sync_settings_home",
    ),
    path(
        "directories/<int:pk>/sync-settings/sync-connectors/",
        views.SyncConnectorsView.as_view(),
        name="directory_sync_connectors",
    ),
    path(
        "directories/<int:pk>/sync-settings/<slug:section>/",
        views.SyncSettingsView.as_view(),
        name="directory_sync_settings",
    ),
    path("directories/<int:pk>/sync-now/", views.SyncNowView.as_view(), name="directory_sync_now"),
    path(
        "directories/<int:pk>/test-connection/",
        views.TestConnectionView.as_view(),
        name="directory_test_connection",
    ),
    path(
        "directories/<int:pk>/sync-log/", DirectorySyncLogView.as_view(), name="directory_sync_log"
    ),
    path(
        "directories/<int:pk>/users/", views.DirectoryUserListView.as_view(), name="directory_users"
    ),
    path(
        "directories/<int:pk>/users/<int:user_pk>/",
        views.DirectoryUserDetailView.as_view(),
        name="directoryuser_detail",
    ),
    path(
        "directories/<int:pk>/groups/",
        views.DirectoryGroupListView.as_view(),
        name="directory_groups",
    ),
    path(
        "directories/<int:pk>/groups/<int:group_pk>/",
        views.DirectoryGroupDetailView.as_view(),
        name="directorygroup_detail",
    ),
    path("users-groups/", views.users_and_groups, name="users_groups"),
    path(
        "identity-providers/",
        views.IdentityProviderListView.as_view(),
        name="identityprovider_list",
    ),
    path(
        "identity-providers/<int:pk>/",
        views.IdentityProviderDetailView.as_view(),
        name="identityprovider_detail",
    ),
]
