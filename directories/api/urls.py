"""API routes of directories and identity providers."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from directories.api.sync_plan import SyncPlanView
from directories.api.users_groups import DirectoryGroupViewSet, DirectoryUserViewSet
from directories.api.views import DirectoryViewSet, IdentityProviderViewSet

app_name = "directories-api"

router = SimpleRouter()
router.register("directories", DirectoryViewSet, basename="directory")
router.register("identity-providers", IdentityProviderViewSet, basename="identityprovider")
router.register("users", DirectoryUserViewSet, basename="directoryuser")
router.register("groups", DirectoryGroupViewSet, basename="directorygroup")

urlpatterns = [path("sync-plan/", SyncPlanView.as_view(), name="sync_plan"), *router.urls]
