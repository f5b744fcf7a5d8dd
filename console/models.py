"""Console accounts and their roles."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from console.timezones import server_time_zone, validate_time_zone


class Role(models.TextChoices):
    SUPER_ADMIN = "super_admin", "Super Admin"
    DIRECTORY_ADMIN = "directory_admin", "Directory Admin"
    READ_ONLY_ADMIN = "read_only_admin", "Read-only Admin"


class User(AbstractUser):
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.READ_ONLY_ADMIN)
    time_zone = models.CharField(
        max_length=64,
        default=server_time_zone,
        validators=[validate_time_zone],
        help_text="IANA time zone the console shows times in, e.g. Europe/Paris",
    )

    @property
    def effective_role(self) -> str:
        return Role.SUPER_ADMIN if self.is_superuser else self.role

    @property
    def can_change(self) -> bool:
        """Super and Directory Admins change directories, lists and syncs."""
        return self.is_active and self.effective_role in (Role.SUPER_ADMIN, Role.DIRECTORY_ADMIN)

    @property
    def is_read_only(self) -> bool:
        """Sees every page and changes nothing (the console says so on every page)."""
        return not self.can_change

    @property
    def can_manage_connectors(self) -> bool:
        """Only Super Admins add connectors (activation codes grant access to agents)."""
        return self.is_active and self.effective_role == Role.SUPER_ADMIN
