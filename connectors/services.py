"""Adding connectors, activating agents, and recording their health."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from connectors import client
from connectors.choices import ActivationState, HealthState
from connectors.client import AgentError
from connectors.models import ActivationCode, Connector, hash_code
from connectors.versions import parse_version
from console.fields import is_lost


@transaction.atomic
def add_connector(name: str) -> tuple[Connector, str]:
    """Create a connector waiting for its agent; returns it and the one-time activation code."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Enter a name for the connector."})
    if Connector.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": f"A connector named {name} already exists."})
    connector = Connector(name=name)
    connector.full_clean(validate_unique=False)
    connector.save()
    _, code = ActivationCode.issue(connector)
    return connector, code


@transaction.atomic
def new_activation_code(connector: Connector) -> str:
    """Issue a fresh code (e.g. to move the connector to a new host); older codes stop working."""
    connector.activation_codes.filter(used_at__isnull=True).update(used_at=timezone.now())
    _, code = ActivationCode.issue(connector)
    return code


class ConnectorInUse(Exception):
    """A connector some directory syncs through cannot be deleted."""

    def __init__(self, connector: Connector, directories: list[str]) -> None:
        self.directories = directories
        super().__init__(
            f"{connector.name} cannot be deleted while these directories use it: "
            f"{', '.join(directories)}. Remove it from their Sync Connectors lists "
            "(or delete the directories) first."
        )


def directories_using(connector: Connector) -> list[str]:
    """Names of the directories that sync through `connector` or list it (the rows that
    protect it from deletion; reached by relation name, the directories app builds on this)."""
    names = set(connector.directories_as_sync.values_list("name", flat=True))
    names.update(connector.sync_entries.values_list("directory__name", flat=True))
    return sorted(names)


def delete_connector(connector: Connector) -> None:
    """Delete a connector no directory uses; ConnectorInUse names the directories that do."""
    try:
        with transaction.atomic():
            connector.delete()
    except ProtectedError as exc:
        raise ConnectorInUse(connector, directories_using(connector)) from exc


def activate(code: str, url: str, host: str, version: str) -> tuple[Connector, str]:
    """Exchange a single-use code for the connector's secret and record the agent's details."""
    errors = {}
    try:
        parse_version(version)
    except ValueError as exc:
        errors["version"] = str(exc)
    if not url.startswith(("http://", "https://")) or not url.isprintable() or " " in url:
        errors["url"] = "Give the agent's URL, e.g. http://host:8443."
    if not host.isprintable():
        errors["host"] = "The host name holds control characters."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        row = (
            ActivationCode.objects.select_for_update()
            .select_related("connector")
            .filter(code_sha256=hash_code(code or ""))
            .first()
        )
        if row is None or not row.is_usable:
            raise ValidationError(
                {"code": "This activation code is unknown, already used or expired."}
            )
        row.used_at = timezone.now()
        row.save(update_fields=["used_at"])
        connector = row.connector
        secret = secrets.token_urlsafe(32)
        connector.secret = secret
        connector.url = url.rstrip("/")
        connector.host = host[:255]
        connector.version = version
        connector.activation_state = ActivationState.ACTIVE
        connector.health = HealthState.OUTDATED if connector.is_outdated else HealthState.OK
        connector.last_seen = timezone.now()
        connector.save()
    return connector, secret


def record_health(connector: Connector, health: str, message: str = "", version: str = "") -> None:
    fields: dict[str, object] = {"health": health, "health_message": message[:500]}
    if health in (HealthState.OK, HealthState.OUTDATED):
        fields["last_seen"] = timezone.now()
    if version:
        fields["version"] = version
    Connector.objects.filter(pk=connector.pk).update(**fields)
    for key, value in fields.items():
        setattr(connector, key, value)


_HEALTH_FOR_OUTCOME = {
    "unauthorized": HealthState.UNAUTHORIZED,
    "unavailable": HealthState.UNREACHABLE,
}


def probe(connector: Connector) -> client.Health:
    """Health-check a connector and record what was seen on it."""
    if is_lost(connector.secret):
        message = (
            f"{connector.name}'s secret cannot be decrypted since the encryption key changed; "
            "issue a new activation code and activate its agent again"
        )
        record_health(connector, HealthState.UNAUTHORIZED, message)
        raise AgentError("unauthorized", message)
    if not connector.is_active or not connector.url or not connector.secret:
        raise AgentError("unavailable", f"{connector.name} has not been activated by its agent")
    try:
        health = client.probe(connector.url, connector.secret, settings.CONNECTOR_PROBE_TIMEOUT)
    except AgentError as exc:
        record_health(
            connector, _HEALTH_FOR_OUTCOME.get(exc.outcome, HealthState.UNREACHABLE), exc.message
        )
        raise
    state = (
        HealthState.OK
        if client.is_supported(health, settings.MINIMUM_CONNECTOR_VERSION)
        else HealthState.OUTDATED
    )
    record_health(connector, state, version=health.version)
    return health
