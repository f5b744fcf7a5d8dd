"""Root URLs: console pages, REST API and schema, health, readiness and metrics."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from console.views import ProfileView, home

urlpatterns = [
    path("", home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("profile/", ProfileView.as_view(), name="profile"),
    path("admin/", admin.site.urls),
    path("api/", include("console.api_urls")),
    path("connectors/", include("connectors.urls")),
    path("sync-log/", include("synclog.urls")),
    path("", include("ops.urls")),
    # VMware Identity Manager's REST paths, for scripts written against vIDM.
    path("SAAS/", include("vidm.urls")),
    path("oauth-clients/", include("vidm.console_urls")),
    path("", include("directories.urls")),
]
