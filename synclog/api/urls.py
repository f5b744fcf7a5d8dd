"""API routes of sync runs."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from synclog.api.views import SyncRunViewSet

app_name = "synclog-api"

router = SimpleRouter()
router.register("sync-runs", SyncRunViewSet, basename="syncrun")

urlpatterns = router.urls
