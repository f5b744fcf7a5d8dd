"""OAuth clients for the vIDM-compatible API, and directories vIDM creates before any
connector is associated with them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from console.fields import EncryptedTextField


class OAuthClient(models.Model):
    """A client-credentials client: its requests act as `user`, a service account with the
    role chosen when the client was added. Only the secret's hash is stored."""

    client_id = models.CharField("client ID", max_length=100, unique=True)
    secret_hash = models.CharField(max_length=128, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="oauth_client"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["client_id"]
        verbose_name = "OAuth client"

    def __str__(self) -> str:
        return self.client_id


class DirectoryConfig(models.Model):
    """A vIDM directoryConfigId. vIDM creates a directory before a connector is associated
    with it, while a directory here needs its sync connector: until
    connectorinstances/{id}/associatedirectory names one, the posted settings wait here
    (`directory` empty). Once the directory exists this row only maps the vIDM id to it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    directory = models.OneToOneField(
        "directories.Directory",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="vidm_config",
    )
    name = models.CharField(max_length=100, unique=True)
    # The directory's settings in the project's own field names (no password).
    settings = models.JSONField(default=dict)
    bind_password = EncryptedTextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def pending(self) -> bool:
        return self.directory_id is None
