"""Connector instances, their activation codes and health."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from connectors.choices import ActivationState, HealthState
from connectors.versions import is_at_least
from console.fields import EncryptedTextField, validate_printable


class ConnectorQuerySet(models.QuerySet):
    def with_uses(self) -> ConnectorQuerySet:
        """With the identity providers and the Sync Connectors lists each connector is in.

        The list entries belong to the directories app, which builds on this one: the
        relation is reached by name, not imported.
        """
        entries = self.model._meta.get_field("sync_entries").related_model
        return self.prefetch_related(
            "identity_providers",
            models.Prefetch(
                "sync_entries",
                queryset=entries.objects.select_related("directory").order_by("directory__name"),
            ),
        )


class Connector(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[validate_printable])
    host = models.CharField(max_length=255, blank=True)
    url = models.URLField(
        "agent URL", blank=True, help_text="Where the service reaches the agent, e.g. http://h:8443"
    )
    version = models.CharField(max_length=32, blank=True)
    activation_state = models.CharField(
        max_length=16, choices=ActivationState.choices, default=ActivationState.PENDING
    )
    health = models.CharField(
        max_length=16, choices=HealthState.choices, default=HealthState.UNKNOWN
    )
    health_message = models.CharField(max_length=500, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    secret = EncryptedTextField(blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    objects = ConnectorQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(name=""), name="%(app_label)s_%(class)s_name_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("connectors:connector_list") + f"#connector-{self.pk}"

    @property
    def is_outdated(self) -> bool:
        """Older than the version the Sync Connectors feature needs (rule S5)."""
        return not is_at_least(self.version, settings.MINIMUM_CONNECTOR_VERSION)

    @property
    def is_active(self) -> bool:
        return self.activation_state == ActivationState.ACTIVE

    @property
    def health_colour(self) -> str:
        return HealthState.colour(self.health)


# Activation codes: no look-alike characters (0/O, 1/I/L, 5/S, 2/Z, 8/B, U/V), never a
# leading "-" an argument parser could take for an option; read in groups of four.
CODE_ALPHABET = "34679ACDEFGHJKMNPQRTWXY"
CODE_GROUPS = 6


def new_code() -> str:
    """A fresh activation code such as 7KQX-9MPR-...: 24 characters, about 108 bits."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(4 * CODE_GROUPS))
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def normalize_code(code: str) -> str:
    """What an admin typed, as the service stores it: no spaces or dashes, upper case.

    Codes issued before this format (URL-safe base64) are case-sensitive and kept as typed.
    """
    text = "".join(code.split())
    squeezed = text.replace("-", "").upper()
    if squeezed and all(ch in CODE_ALPHABET for ch in squeezed):
        return squeezed
    return text


def hash_code(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


class ActivationCode(models.Model):
    """A single-use code an agent exchanges for its connector secret."""

    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, related_name="activation_codes"
    )
    code_sha256 = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"activation code for {self.connector}"

    @classmethod
    def issue(cls, connector: Connector) -> tuple[ActivationCode, str]:
        code = new_code()
        ttl = timedelta(hours=settings.ACTIVATION_CODE_TTL_HOURS)
        row = cls.objects.create(
            connector=connector, code_sha256=hash_code(code), expires_at=timezone.now() + ttl
        )
        return row, code

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()
