"""Role checks shared by console views and the REST API."""

from __future__ import annotations

from django.shortcuts import render
from rest_framework.permissions import SAFE_METHODS, BasePermission


class RolePermission(BasePermission):
    """Any admin reads; Super and Directory Admins write; a view may ask for Super Admin."""

    message = "Your role does not allow changes."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        if getattr(view, "requires_super_admin", False):
            return user.can_manage_connectors
        return user.can_change


class ChangeRequiredMixin:
    """Console views: reads for every admin, any other method only for roles that may change.

    A page that exists only to change something (Add, Delete, activation codes) sets
    `change_only`: a role that may not change is refused it when it opens it too, instead
    of seeing a form it cannot send.
    """

    requires_super_admin = False
    change_only = False

    def dispatch(self, request, *args, **kwargs):
        if self.change_only or request.method not in ("GET", "HEAD", "OPTIONS"):
            allowed = (
                request.user.can_manage_connectors
                if self.requires_super_admin
                else request.user.can_change
            )
            if not allowed:
                # Answered here rather than raised: a refusal is expected traffic, logged
                # as one line, not as a traceback.
                return render(
                    request, "403.html", {"reason": "Your role does not allow changes."}, status=403
                )
        return super().dispatch(request, *args, **kwargs)
