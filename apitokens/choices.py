"""Kinds of API token."""

from __future__ import annotations

from django.db import models


class TokenKind(models.TextChoices):
    # Created and named by an admin on the API tokens page or through the API.
    API = "api", "API token"
    # Issued by a username/password login (ours or the vIDM-compatible one); expires.
    SESSION = "session", "Login session"
    # Issued to an OAuth client for its client credentials; expires.
    OAUTH = "oauth", "OAuth client"
