"""API routes of directories and identity providers."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from directories.api.views import DirectoryViewSet, IdentityProviderViewSet

app_name = "directories-api"

router = SimpleRouter()
router.register("directories", DirectoryViewSet, basename="directory")
router.register("identity-providers", IdentityProviderViewSet, basename="identityprovider")

urlpatterns = router.urls
