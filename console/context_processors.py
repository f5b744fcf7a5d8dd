"""Template context shared by every console page."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def console(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    return {
        "deployment_mode": settings.DEPLOYMENT_MODE,
        "can_change": bool(user and user.is_authenticated and user.can_change),
        "can_manage_connectors": bool(
            user and user.is_authenticated and user.can_manage_connectors
        ),
    }
