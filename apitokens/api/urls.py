"""API routes of API tokens."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from apitokens.api.views import ApiTokenViewSet

app_name = "apitokens-api"

router = SimpleRouter()
router.register("tokens", ApiTokenViewSet, basename="apitoken")

urlpatterns = router.urls
