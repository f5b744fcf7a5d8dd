"""Root URLs: console pages, REST API and schema, health, readiness and metrics."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from console.views import ProfileView, home

# An unknown API URL, or a failure outside DRF, still answers the API's JSON error shape.
handler404 = "console.api_errors.page_not_found"
handler500 = "console.api_errors.server_error"

urlpatterns = [
    path("", home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("profile/", ProfileView.as_view(), name="profile"),
    path("api-tokens/", include("apitokens.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("console.api_urls")),
    path("connectors/", include("connectors.urls")),
    path("sync-log/", include("synclog.urls")),
    path("", include("ops.urls")),
    # VMware Identity Manager's REST paths, for scripts written against vIDM.
    path("SAAS/", include("vidm.urls")),
    path("oauth-clients/", include("vidm.console_urls")),
    path("", include("directories.urls")),
]
